"""The live push trusts the tables, never a notification: NOTIFY needs no privilege, so any
login (analytics_reader here) can send one on the API's channel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import websockets

from include.platform import db
from tests.support.api import write_live
from tests.support.ws import recv_json, until, values

HOUR = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)
MINUTE_MS = int(HOUR.timestamp() * 1000)


def forged(rows: list) -> str:
    """A payload in the triggers' own form (migration 0006), with whatever values it likes."""
    return orjson.dumps({"at": MINUTE_MS, "rows": rows}).decode()


async def test_a_forged_notify_pushes_only_what_the_tables_hold(database_url, api, conn) -> None:
    """analytics_reader NOTIFYs a BTCUSDT candle with a high of 999999, closed: subscribers see
    the row the table holds (high 110, open); malformed payloads change nothing and the push
    goes on."""
    write_live(conn, "BTCUSDT", HOUR, values("101"), False)
    reader = db.role_url(database_url, db.READER)
    async with websockets.connect(
        f"{api.ws}/stream?streams=btcusdt@kline_1m/btcusdt@kline_1h"
    ) as ws:
        await asyncio.sleep(0.2)
        with psycopg.connect(reader, autocommit=True) as attacker:
            fake_row = ["BTCUSDT", MINUTE_MS, "1", "999999", "1", "999999", "9", "9", 9, "9", "9"]
            for payload in (
                forged([[*fake_row, True, 1, 2]]),
                "{not json",
                forged([[None, "x"]]),
                forged("rows"),
                forged([["BTCUSDT", MINUTE_MS + 1]]),
                orjson.dumps({"at": MINUTE_MS, "rebuilt": [[1, "a", None]]}).decode(),
            ):
                attacker.execute("select pg_notify('candles_1m', %s)", (payload,))
        seen = []
        async with asyncio.timeout(3):
            while len(seen) < 2:
                seen.append((await recv_json(ws))["data"]["k"])
        for k in seen:
            assert (k["h"], k["c"], k["x"]) == ("110.00000000", "101.00000000", False), k
        # The listener is still up and a real write is still pushed.
        assert api.api.hub.listening.is_set()
        write_live(conn, "BTCUSDT", HOUR, values("104"), False)
        await until(ws, lambda m: m["data"]["k"]["c"] == "104.00000000")
        async with api.api.pool.connection() as check:
            await check.execute("select 1")
    health = await asyncio.to_thread(_get, f"{api.http}/healthz")
    assert health["listening"] is True


async def test_closed_only_when_the_database_holds_it_closed(api, conn) -> None:
    """A later minute opening does not close the hour (nor the minute before, still open in the
    table); the hour is pushed closed once its last minute is closed in the table."""
    write_live(conn, "BTCUSDT", HOUR + timedelta(minutes=58), values("101"), False)
    async with websockets.connect(
        f"{api.ws}/stream?streams=btcusdt@kline_1m/btcusdt@kline_1h"
    ) as ws:
        await asyncio.sleep(0.2)
        write_live(conn, "BTCUSDT", HOUR + timedelta(minutes=59), values("102"), False)
        write_live(conn, "BTCUSDT", HOUR + timedelta(minutes=60), values("103"), False)
        got = []
        async with asyncio.timeout(3):
            while len(got) < 4:
                got.append((await recv_json(ws))["data"]["k"])
        assert not any(k["x"] for k in got), got
        write_live(conn, "BTCUSDT", HOUR + timedelta(minutes=59), values("102"), True)
        hour = await until(ws, lambda m: m["data"]["k"]["i"] == "1h" and m["data"]["k"]["x"])
        assert hour["data"]["k"]["t"] == MINUTE_MS
        # A correction to an older minute (before the newest notified) is pushed too.
        write_live(conn, "BTCUSDT", HOUR + timedelta(minutes=58), values("99"), True)
        old = await until(
            ws, lambda m: m["data"]["k"]["i"] == "1m" and m["data"]["k"]["c"] == "99.00000000"
        )
        assert old["data"]["k"]["x"] is True


async def test_a_failing_listener_is_restarted(api, conn) -> None:
    """A listener that fails on an error no handler foresaw comes back by itself, and the push
    goes on."""
    hub = api.api.hub
    original = hub.on_notify

    def explode(payload: str) -> None:
        hub.on_notify = original
        raise RuntimeError("a bug in the listener")

    hub.on_notify = explode
    conn.execute("select pg_notify('candles_1m', '{}')")
    for _ in range(100):
        if not hub.listening.is_set():
            break
        await asyncio.sleep(0.02)
    assert not hub.listening.is_set()
    async with asyncio.timeout(10):
        await hub.listening.wait()
    async with websockets.connect(f"{api.ws}/ws/btcusdt@kline_1m") as ws:
        await asyncio.sleep(0.2)
        write_live(conn, "BTCUSDT", HOUR, values("105"), False)
        assert (await recv_json(ws))["k"]["c"] == "105.00000000"


async def test_a_dead_push_task_is_unhealthy(api) -> None:
    """/healthz is 503 once the listener task has ended, whatever state it left behind."""
    assert (await asyncio.to_thread(_get, f"{api.http}/healthz"))["listening"] is True
    listener = api.api.push_tasks[0]
    listener.cancel()
    await asyncio.wait([listener])
    assert api.api.hub.listening.is_set(), "the state it left says listening"
    assert (await asyncio.to_thread(_get, f"{api.http}/healthz", 503))["listening"] is False


def _get(url: str, status: int = 200) -> dict:
    import httpx

    response = httpx.get(url, timeout=5)
    assert response.status_code == status, response.text
    return response.json()


async def test_the_notifications_of_a_login_that_writes_nothing_wait_for_spare_time(
    database_url, api
) -> None:
    """Each sender's role is looked up once: the streamer's, the loaders' and dbt_builder's
    notifications are read as they come, analytics_reader's (which writes no market table) set
    aside for the worker's spare time, so a flood of them stands in front of no real one."""
    hub = api.api.hub
    pids = {}
    for role in (db.STREAMER, db.LOADER, db.BUILDER, db.READER):
        with psycopg.connect(db.role_url(database_url, role), autocommit=True) as sender:
            pids[role] = sender.info.backend_pid
            sender.execute("select pg_notify('candles_1m', %s)", (forged([]),))
            async with asyncio.timeout(5):
                while pids[role] not in hub.senders.verdicts:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
    verdicts = {role: hub.senders.verdicts[pid][0] for role, pid in pids.items()}
    assert verdicts == {db.STREAMER: True, db.LOADER: True, db.BUILDER: True, db.READER: False}
