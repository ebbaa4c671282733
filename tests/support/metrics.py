"""The metric names the streamer's /metrics page exports."""

from __future__ import annotations

import re

from prometheus_client import generate_latest

from streamer.app import Streamer
from streamer.config import StreamerConfig


def exported_metric_names() -> set[str]:
    """Every sample name in the streamer's /metrics page (counters with their _total)."""
    streamer = Streamer(
        StreamerConfig(
            database_url="postgresql://nobody@127.0.0.1:1/none",
            symbols=("BTCUSDT",),
            ws_url="http://127.0.0.1:1",
            rest_url="http://127.0.0.1:1",
            health_port=0,
        )
    )
    return metric_names_on_page(generate_latest(streamer.metrics.registry).decode())


def metric_names_on_page(page: str) -> set[str]:
    """Every sample name a /metrics page can hold (counters with their _total)."""
    # Declared families count even before their first sample (a labelled counter has none yet).
    names = set(re.findall(r"^([a-z_]+)(?:\{|\s)", page, re.M))
    for name, kind in re.findall(r"^# TYPE ([a-z_]+) ([a-z]+)", page, re.M):
        names.add(name)
        if kind == "counter":
            names.add(name.removesuffix("_total") + "_total")
        if kind == "histogram":
            names.update(f"{name}_{part}" for part in ("bucket", "count", "sum"))
    return names
