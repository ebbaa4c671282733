"""The HTTP side: /healthz (JSON, 503 when unhealthy) and /metrics (Prometheus text)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)


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
