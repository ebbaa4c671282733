"""The push's one LISTEN connection per process: every committed change to a 1m candle (the
triggers of migration 0006) reaches the hub as a notification, and a connection lost is made
up for once it is back (Hub.catch_up)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine

import psycopg

from api.push.hub import Hub
from include.platform.backoff import Backoff

logger = logging.getLogger("api.push")


async def listen(hub: Hub, stop: asyncio.Event) -> None:
    """LISTEN on one connection, reconnecting with backoff, until ``stop``."""
    backoff = Backoff(0.1, 5.0, jitter=False)
    lost_ms: int | None = None
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(
                hub.database_url, autocommit=True, application_name="api-listener"
            ) as conn:
                await conn.execute(f"listen {hub.channel}")
                await hub.runs_from_now(conn)
                hub.metrics.listening.set(1)
                hub.listening.set()
                backoff.reset()
                logger.info("listening on %s", hub.channel)
                if lost_ms is not None:
                    hub.catch_up(lost_ms)
                    lost_ms = None
                # Until stop: a shutdown waits for no notification (it once waited up to 1 s).
                await _until(stop, _receive(conn, hub))
        except Exception as exc:  # whatever ended it, the listener comes back
            hub.metrics.listening.set(0)
            hub.listening.clear()
            if lost_ms is None:
                lost_ms = hub.clock_ms()
            logger.warning("listener stopped, restarting: %s", str(exc).strip()[:200])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next())
    hub.metrics.listening.set(0)


async def _receive(conn: psycopg.AsyncConnection, hub: Hub) -> None:
    """Hand every notification to the hub until the connection fails."""
    async for notify in conn.notifies():
        hub.received(notify.pid, notify.payload)


async def _until(stop: asyncio.Event, work: Coroutine[object, object, None]) -> None:
    """Run ``work`` until it ends (raising what it raised) or ``stop`` is set (cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not task.cancelled():
        task.result()
