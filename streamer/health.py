"""The HTTP side: /healthz (JSON, 503 when unhealthy) and /metrics (Prometheus text)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

if TYPE_CHECKING:
    from streamer.aggregator import Aggregator
    from streamer.config import StreamerConfig
    from streamer.connection import Shard
    from streamer.gaps import Gaps
    from streamer.metrics import Metrics
    from streamer.writer import Writer

logger = logging.getLogger(__name__)


def gauges(shards: Sequence[Shard], writer: Writer, aggregator: Aggregator, gaps: Gaps) -> dict:
    """The state gauges /metrics shows beside the counters."""
    now = time.monotonic()
    return {
        "streamer_connections_up": sum(1 for s in shards if s.state == "connected"),
        "streamer_writer_lag_seconds": writer.lag(now),
        "streamer_gaps_pending": aggregator.pending_gaps(),
        "streamer_repairs_failing": len(gaps.retries.failing),
        "streamer_candles_pending": len(aggregator.dirty),
        "streamer_database_up": 1 if writer.db_ok else 0,
        # COIN-M: minutes over whose base volumes wait for their klines (streamer/inverse.py),
        # and how many closed that way (apart from the minutes closed from trades alone).
        "streamer_minutes_unsettled": len(aggregator.unsettled),
        "streamer_minutes_settled_from_klines": aggregator.stats.settled_minutes,
        "streamer_minutes_closed_from_trades": aggregator.stats.closed_minutes,
    }


def health_report(
    cfg: StreamerConfig,
    *,
    ready: asyncio.Event,
    shards: Sequence[Shard],
    writer: Writer,
    aggregator: Aggregator,
    gaps: Gaps,
    metrics: Metrics,
    restarts: dict[str, int],
) -> tuple[bool, dict]:
    """Per-connection state, last event age, writer lag; ok=False makes /healthz 503."""
    now = time.monotonic()
    down = {s.name: 0.0 if s.down_since is None else now - s.down_since for s in shards}
    lag = writer.lag(now)
    failing_for = max((now - since for since, _e in gaps.retries.failing.values()), default=0.0)
    ok = (
        ready.is_set()
        and max(down.values(), default=0.0) <= cfg.health_max_disconnected
        and lag <= cfg.health_max_writer_lag
        and failing_for <= cfg.health_max_repair_failing
    )
    return ok, {
        "ok": ok,
        "market": cfg.market.name,
        "shard": f"{cfg.shard.index}/{cfg.shard.count}" if cfg.shard else None,
        "connections": [
            {
                "name": shard.name,
                "state": shard.state,
                "state_for_s": round(now - shard.state_since, 3),
                "disconnected_for_s": round(down[shard.name], 3),
                "streams": len(shard.symbols),
                "last_event_age_s": round(now - shard.last_data, 3),
                "reconnects": shard.reconnects,
                "rotations": shard.rotations,
            }
            for shard in shards
        ],
        "writer": {
            "lag_s": round(lag, 3),
            "database_up": writer.db_ok,
            "last_commit_age_s": round(now - writer.last_commit, 3),
            "pending_candles": len(aggregator.dirty),
            "rows_written": writer.rows_written,
            "last_error": None if writer.db_ok else writer.last_error,
        },
        "gaps": {
            "pending": aggregator.pending_gaps(),
            "repairs_failing": len(gaps.retries.failing),
            "repair_failing_for_s": round(failing_for, 3),
            "repair_errors": sum(metrics.repair_errors.values()),
            "last_repair_error": gaps.retries.last_error,
            "found": metrics.gaps_found,
            "repaired": metrics.gaps_repaired,
            "unhealed": metrics.gaps_unhealed,
            "startup_from_klines": metrics.startup_klines,
        },
        "malformed_frames": metrics.malformed,
        "helper_restarts": dict(restarts),
    }


async def start_health_server(
    host: str, port: int, health: Callable[[], tuple[bool, dict]], registry: CollectorRegistry
) -> tuple[web.AppRunner, int]:
    """Serve /healthz and /metrics; returns the runner and the bound port (port 0 picks one)."""

    async def healthz(request: web.Request) -> web.Response:
        ok, body = health()
        return web.Response(
            body=orjson.dumps(body, option=orjson.OPT_INDENT_2),
            status=200 if ok else 503,
            content_type="application/json",
        )

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]
    logger.info("health and metrics on http://%s:%d/healthz", host, bound)
    return runner, bound
