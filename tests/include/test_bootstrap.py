"""History at start joined to the streamer's first candle: no hole, quality green at once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from fakebinance.server import FakeBinance
from include.history import backfill
from include.history.bootstrap import bootstrap
from include.quality import Window, run_checks
from tests.support.streamer import fast_fake, running, streamer_config, wait_until

pytestmark = pytest.mark.slow
SYMBOLS = ["BTCUSDT", "ETHUSDT", "PEPEUSDT"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    """The streamer tests' fake Binance in this event loop, its market clock 20x the wall's."""
    async with fast_fake() as server:
        yield server


def holes(conn: psycopg.Connection, symbol: str, start, end) -> list[tuple]:
    """Minutes of [start, end) that neither official history nor closed live candles hold."""
    return conn.execute(
        "select m from generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute', "
        "interval '1 minute') as m where not exists (select 1 from market.klines_1m k where "
        "k.symbol = %s and k.open_time = m) and not exists (select 1 from "
        "market.candles_1m_live l where l.symbol = %s and l.open_time = m and l.is_closed)",
        (start, end, symbol, symbol),
    ).fetchall()


async def test_history_reaches_the_first_live_candle_and_quality_is_green(
    fake,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The platform's first build already holds every minute from history to the live edge."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    config = streamer_config(fake, database_url, symbols=tuple(SYMBOLS))
    async with running(config, fake):
        result = await asyncio.to_thread(
            bootstrap, SYMBOLS, days=1, wait_seconds=30, rest_url=fake.url
        )
        assert set(result.live_from) == set(SYMBOLS)
        with psycopg.connect(database_url) as conn:
            start = conn.execute("select min(open_time) from market.klines_1m").fetchone()[0]
            for symbol in SYMBOLS:
                edge = conn.execute(
                    "select max(open_time) + interval '1 minute' from market.candles_1m_live "
                    "where symbol = %s and is_closed",
                    (symbol,),
                ).fetchone()[0]
                assert start <= edge - timedelta(hours=23)
                assert holes(conn, symbol, start, edge) == [], symbol
            built = conn.execute("select max(open_time) from analytics.candles_1m").fetchone()[0]
    report = run_checks(
        database_url,
        Window(start, built),
        symbols=SYMBOLS,
        expect_live=False,
        gx_root=tmp_path / "gx",
    )
    assert report.success, report.summary()


async def test_symbols_first_live_during_the_load_are_joined(
    fake,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A symbol whose first live minute closes only after the wait (ALL: 2,000 streams to
    subscribe, quiet symbols) still gets the minutes up to it in the same run, as when the
    load of 2,000 symbols outlasts the wait."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    loaded, live = threading.Event(), threading.Event()
    load = backfill.backfill_rest

    def slow_load(*args, **kwargs):
        # The first (main) load lasts until the streamer closed a minute of every symbol.
        result = load(*args, **kwargs)
        if not loaded.is_set():
            loaded.set()
            assert live.wait(60)
        return result

    monkeypatch.setattr(backfill, "backfill_rest", slow_load)
    # The wait finds no live candle: the streamer starts only during the load.
    job = asyncio.ensure_future(
        asyncio.to_thread(bootstrap, SYMBOLS, days=1, wait_seconds=0.1, rest_url=fake.url)
    )
    assert await asyncio.to_thread(loaded.wait, 60)
    config = streamer_config(fake, database_url, symbols=tuple(SYMBOLS))
    async with running(config, fake):
        with psycopg.connect(database_url, autocommit=True) as conn:

            def all_closed() -> bool:
                return conn.execute(
                    "select count(distinct symbol) = %s from market.candles_1m_live "
                    "where is_closed",
                    (len(SYMBOLS),),
                ).fetchone()[0]

            await wait_until(all_closed, 60, "a closed live minute of every symbol")
        live.set()
        result = await job
    assert set(result.live_from) == set(SYMBOLS)
    with psycopg.connect(database_url) as conn:
        start = conn.execute("select min(open_time) from market.klines_1m").fetchone()[0]
        for symbol, first_live in result.live_from.items():
            assert holes(conn, symbol, start, first_live) == [], symbol
