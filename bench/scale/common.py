"""What the scale bench's sections share: the market's clock and size, the spread of a
run's rounds, the fake exchange's and the streamer's processes, and the streamer's metrics read
from its /metrics page."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

NOW = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday: the window ends where a 1w bucket starts
ALL_SYMBOLS = 2000

# Binance spot's aggregate trade rate. No source at hand states it per second, so it is derived
# (the streamer section's docstring says how): ~460 trades/s on an average day, ~14,000 trades/s
# at a peak. The target is 3x the peak: 42,000 trades/s committed with p99 < 250 ms.
BINANCE_AVG_TRADES_PER_S = 460
BINANCE_PEAK_TRADES_PER_S = 14_000
STREAMER_DB = "scale_bench_streamer"
# Five seconds into a 15-minute block: the fake draws each symbol's trades per block, which at
# tens of thousands of trades/s takes a minute, so it draws them once (--warm) and every round
# runs inside that block.
STREAMER_START = "2025-01-01T00:00:05+00:00"
STREAMER_LATENCY_P99_TARGET = 0.25


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_fake(
    cmd: list[str], root: Path, preexec_fn: Callable[[], None] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start the fake exchange (``cmd``, run in ``root``); the process and the URL it prints."""
    fake = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
    assert fake.stdout is not None
    fake_url = fake.stdout.readline().strip()
    if not fake_url.startswith("http"):
        fake.kill()
        raise SystemExit(f"fake exchange did not start: {fake_url!r}")
    return fake, fake_url


def spot_streamer_env(
    root: Path, url: str, fake_url: str, port: int, **settings: str
) -> dict[str, str]:
    """`python -m streamer`'s environment: spot's ALL at the fake, its port and ``settings``."""
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "DATABASE_URL": url,
        "SYMBOLS": "ALL",
        "BINANCE_WS_URL": fake_url,
        "BINANCE_REST_URL": fake_url,
        "STREAMER_HEALTH_PORT": str(port),
        **settings,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _scrape(port: int) -> tuple[float, list[tuple[float, float]], float]:
    """(raw trades folded, event-to-commit histogram buckets (le, cumulative count),
    reconnections since the process started)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    # A streamer far behind answers late: its loop is busy with the backlog.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as resp:
        text = resp.read().decode()
    trades, buckets, reconnects = 0.0, [], 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "streamer_trades_total":
                trades += sample.value
            elif sample.name == "streamer_event_to_commit_seconds_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name == "streamer_reconnects_total":
                reconnects += sample.value
    return trades, buckets, reconnects


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """A quantile of cumulative histogram buckets, interpolated in its bucket as PromQL does."""
    total = buckets[-1][1] if buckets else 0
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = upper, count
    return lower


def _sent(fake_url: str) -> tuple[int, int]:
    """(trades the fake has queued as due by its clock, frames it has sent: trades and acks)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{fake_url}/fake/stats", timeout=10) as resp:
        stats = json.loads(resp.read())
    return int(stats.get("trades_queued", 0)), int(stats.get("messages_sent", 0))


def _merge(snapshots: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Bucket-wise sum of several processes' histograms (same bounds)."""
    return [(le, sum(s[i][1] for s in snapshots)) for i, (le, _) in enumerate(snapshots[0])]


def _committed(url: str) -> int:
    """Raw trades in the live candles as committed (each row only grows within a run)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return int(
            conn.execute(
                "select coalesce(sum(trade_count), 0) from market.candles_1m_live"
            ).fetchone()[0]
        )
