"""A forged "rebuilt" announcement: the runs a dbt build rebuilt come from market.rebuilt_runs,
which only dbt_builder writes, never from a notification's payload (tests/security/README.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest
import websockets

from api.config import ApiConfig, load_config
from include.platform import db
from tests.support.api import RunningApi, running_api, write_live
from tests.support.streamer import wait_until
from tests.support.ws import recv_json, values

START = datetime(2025, 5, 5, 8, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
HISTORY_MINUTES = 120


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[RunningApi]:
    """The API over the test's database, as analytics_reader, on a free port."""
    async with running_api(ApiConfig(database_url=load_config().database_url, port=0)) as running:
        yield running


async def test_a_forged_rebuilt_run_replays_no_history(database_url, api, conn) -> None:
    """analytics_reader announces two hours of BTCUSDT's minutes as rebuilt: a subscriber gets
    none of them, only the live minute written next."""
    for n in range(HISTORY_MINUTES):
        write_live(conn, "BTCUSDT", START + timedelta(minutes=n), values("101"), True)
    # The history's own announcements (one per write) are all taken in before anyone subscribes:
    # one still on its way would be pushed, rightly, as a minute that changed (seen under CI's
    # load), and is not what this test is about.
    registry = api.api.metrics.registry
    await wait_until(
        lambda: (registry.get_sample_value("api_notifications_total") or 0) >= HISTORY_MINUTES,
        10,
        "the history's announcements taken in",
    )
    marker = START + timedelta(minutes=HISTORY_MINUTES)
    async with websockets.connect(f"{api.ws}/ws/btcusdt@kline_1m") as ws:
        await asyncio.sleep(0.2)
        end_ms = START_MS + HISTORY_MINUTES * 60_000
        with psycopg.connect(db.role_url(database_url, db.READER), autocommit=True) as attacker:
            for rebuilt in ([["BTCUSDT", START_MS, end_ms]], 1, None):
                message = orjson.dumps({"at": START_MS, "rebuilt": rebuilt}).decode()
                attacker.execute("select pg_notify('candles_1m', %s)", (message,))
        await asyncio.sleep(1)
        write_live(conn, "BTCUSDT", marker, values("104"), False)
        pushed = []
        async with asyncio.timeout(10):
            while not pushed or pushed[-1] != int(marker.timestamp() * 1000):
                pushed.append((await recv_json(ws))["k"]["t"])
        with pytest.raises(TimeoutError):
            pushed.append((await recv_json(ws, within=1))["k"]["t"])
    assert pushed == [int(marker.timestamp() * 1000)]
    # Nor can it write the table the runs come from.
    with (
        psycopg.connect(db.role_url(database_url, db.READER)) as attacker,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        attacker.execute(
            "insert into market.rebuilt_runs (symbol, first_open, end_open) "
            "values ('BTCUSDT', %s, %s)",
            (START, marker),
        )
