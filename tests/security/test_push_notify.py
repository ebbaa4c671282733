"""Attacks on the live push through NOTIFY, which needs no privilege: any login (here
analytics_reader, the read API's own role) can send on the API's channel (tests/security/
README.md lists every attack tried)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import websockets

from api.config import ApiConfig, load_config
from api.symbols import EARLIEST_MS
from tests.support.api import RunningApi, running_api, write_live
from tests.support.push_attacks import (
    HOUR_MS,
    notify_as_reader,
    out_of_range_keys,
    trickle_as_reader,
)
from tests.support.ws import recv_json, until, values

MINUTE = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)
MINUTE_MS = int(MINUTE.timestamp() * 1000)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[RunningApi]:
    """The API over the test's database, as analytics_reader, on a free port."""
    async with running_api(ApiConfig(database_url=load_config().database_url, port=0)) as running:
        yield running


async def healthz(api: RunningApi) -> tuple[int, dict]:
    """GET /healthz: its status and body."""
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{api.http}/healthz")
    return response.status_code, response.json()


async def test_an_out_of_range_key_stops_no_push(database_url, api, conn) -> None:
    """analytics_reader NOTIFYs keys whose minute the tables cannot hold (3e17 ms, December
    9999, a rebuilt run from 3e17): a live minute written next still reaches 1m and 1M
    subscribers within seconds, and /healthz stays 200."""
    write_live(conn, "BTCUSDT", MINUTE, values("101"), False)
    streams = "btcusdt@kline_1m/btcusdt@kline_1M"
    async with websockets.connect(f"{api.ws}/stream?streams={streams}") as ws:
        await asyncio.sleep(0.2)
        notify_as_reader(database_url, *out_of_range_keys("BTCUSDT", MINUTE_MS))
        await asyncio.sleep(1)
        write_live(conn, "BTCUSDT", MINUTE + timedelta(minutes=1), values("104"), False)
        seen = set()
        async with asyncio.timeout(5):
            while seen != {"1m", "1M"}:
                k = (await recv_json(ws))["data"]["k"]
                if k["c"] == "104.00000000":
                    seen.add(k["i"])
    status, health = await healthz(api)
    assert (status, health["pushing"]) == (200, True), health


async def test_healthz_fails_while_the_push_worker_fails(api, conn) -> None:
    """While every read of the push worker fails (analytics_reader may not read the live
    table), /healthz answers 503 with pushing false; once reads work again, the next live
    minute is pushed and /healthz is 200."""
    write_live(conn, "BTCUSDT", MINUTE, values("101"), False)
    async with websockets.connect(f"{api.ws}/ws/btcusdt@kline_1m") as ws:
        await asyncio.sleep(0.2)
        conn.execute("revoke select on market.candles_1m_live from analytics_reader")
        try:
            status = None
            async with asyncio.timeout(15):
                for close in range(102, 1000):
                    write_live(conn, "BTCUSDT", MINUTE, values(str(close)), False)
                    status, health = await healthz(api)
                    if status == 503:
                        break
                    await asyncio.sleep(0.3)
            assert (status, health["pushing"]) == (503, False), health
        finally:
            conn.execute("grant select on market.candles_1m_live to analytics_reader")
        write_live(conn, "BTCUSDT", MINUTE, values("99"), True)
        await until(ws, lambda m: m["k"]["c"] == "99.00000000" and m["k"]["x"], within=5)
    status, health = await healthz(api)
    assert (status, health["pushing"]) == (200, True), health


@pytest.mark.slow
async def test_a_trickle_of_old_keys_keeps_no_live_minute_waiting(database_url, api, conn) -> None:
    """analytics_reader sends notifications without pause, each naming 280 old hours of a
    symbol subscribed to at 1m and 1h (every key in range, from Binance's first kline to two
    hours ago and round again: nothing to drop, nothing merged within a round). The minute
    forming now, written while the trickle goes on, still reaches both subscribers within
    seconds, each time: old keys wait behind the live ones, never before."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    write_live(conn, "BTCUSDT", now, values("101"), False)
    streams = "btcusdt@kline_1m/btcusdt@kline_1h"
    hour = now.replace(minute=0)
    opens = {"1m": int(now.timestamp() * 1000), "1h": int(hour.timestamp() * 1000)}
    span = (EARLIEST_MS, opens["1m"] - 2 * HOUR_MS)
    stop, sent = threading.Event(), [0]
    async with websockets.connect(f"{api.ws}/stream?streams={streams}") as ws:
        await asyncio.sleep(0.2)
        attacker = asyncio.create_task(
            asyncio.to_thread(trickle_as_reader, database_url, stop, sent, span=span)
        )
        try:
            await asyncio.sleep(3)
            for close in ("102", "103", "104"):
                write_live(conn, "BTCUSDT", now, values(close), False)
                seen: set[str] = set()
                async with asyncio.timeout(5):
                    while seen != {"1m", "1h"}:
                        message = orjson.loads(await ws.recv())
                        k = message["data"]["k"]
                        if k["c"] == f"{close}.00000000" and k["t"] == opens.get(k["i"]):
                            seen.add(k["i"])
                await asyncio.sleep(2)
        finally:
            stop.set()
            await attacker
    assert sent[0] > 100, f"only {sent[0]} notifications sent"
    status, health = await healthz(api)
    assert (status, health["pushing"]) == (200, True), health
