"""The streamer against the fake exchange on a fast market clock: start, wait, read its rows."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, default_symbols, quiet_symbol
from fakebinance.server import FakeBinance
from include.platform.times import CANDLE_FIELDS, MINUTE_MS
from streamer.app import Streamer
from streamer.config import StreamerConfig
from tests.support.paths import PROJECT_ROOT

# 20 market seconds per wall second: a minute closes in 3 s of test time.
SPEED = 20.0
START = datetime(2025, 3, 3, 12, 0, 0, tzinfo=UTC)
KLINE_FIELDS = CANDLE_FIELDS


def market_config(seed: int = 7) -> MarketConfig:
    """BTC, ETH, tiny-priced PEPE and a quiet symbol."""
    return MarketConfig(seed, (*default_symbols(), quiet_symbol()))


def fast_fake() -> FakeBinance:
    """A fake Binance (start it with ``async with``), its market clock 20x faster than the wall."""
    clock = MarketClock(start=START, speed=SPEED)
    return FakeBinance(market_config(), clock=clock, tick_interval=0.02)


def streamer_config(fake: FakeBinance, database_url: str, **changes: object) -> StreamerConfig:
    """A config pointing at the fake with test-sized timings (market-time grace)."""
    base = StreamerConfig(
        database_url=database_url,
        symbols=("BTCUSDT", "ETHUSDT", "PEPEUSDT", "QUIETUSDT"),
        ws_url=fake.url,
        rest_url=fake.url,
        flush_interval=0.05,
        close_grace=2.0,
        health_port=0,
        backoff_initial=0.01,
        backoff_max=0.2,
        silence_timeout=2.0,
        symbols_refresh_interval=2.0,
    )
    return base.with_(**changes)


@contextlib.asynccontextmanager
async def running(config: StreamerConfig, fake: FakeBinance) -> AsyncIterator[Streamer]:
    """A streamer running in this loop on the fake's clock; stopped (and flushed) on exit."""
    streamer = Streamer(config, clock_ms=fake.clock.now_ms)
    stop = asyncio.Event()
    task = asyncio.ensure_future(streamer.run(stop))
    await asyncio.wait_for(streamer.ready.wait(), 10)
    try:
        yield streamer
    finally:
        stop.set()
        code = await asyncio.wait_for(task, 40)
        assert code == 0


async def wait_until(predicate: Callable[[], bool], within: float, what: str) -> None:
    """Poll until true; fail with ``what`` after ``within`` wall seconds.

    The predicate runs on a thread: most read the database, and a blocking read on the loop the
    streamer shares could wait for a lock the streamer holds (a day's partition being made) while
    the streamer waits for the loop, until the test's timeout."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def market_minute(fake: FakeBinance) -> int:
    """The open time (epoch ms) of the market's current minute: the clock read once (read
    twice, a minute could turn between the reads)."""
    now = fake.clock.now_ms()
    return now - now % MINUTE_MS


async def market_minutes(fake: FakeBinance, minutes: float) -> None:
    """Let ``minutes`` of market time pass."""
    await asyncio.sleep(minutes * 60 / SPEED)


def newest_closed(database_url: str, symbol: str, schema: str = "market") -> datetime | None:
    """The open time of the symbol's newest closed live minute; None before the first."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            f"select max(open_time) from {schema}.candles_1m_live where symbol = %s and is_closed",
            (symbol,),
        ).fetchone()
    return row[0] if row else None


def newest_closed_ms(database_url: str, symbol: str, schema: str = "market") -> int | None:
    """newest_closed as epoch milliseconds."""
    newest = newest_closed(database_url, symbol, schema)
    return int(newest.timestamp()) * 1000 if newest is not None else None


def closed_rows(database_url: str, symbol: str, schema: str = "market") -> list[dict]:
    """The streamer's closed rows for a symbol, oldest first (a futures market's schema)."""
    with (
        psycopg.connect(database_url) as conn,
        conn.cursor(row_factory=psycopg.rows.dict_row) as cur,
    ):
        cur.execute(
            f"select * from {schema}.candles_1m_live where symbol = %s and is_closed"
            " order by open_time",
            (symbol,),
        )
        return cur.fetchall()


def assert_exact(
    fake: FakeBinance,
    database_url: str,
    symbols: Iterable[str],
    min_rows: int = 2,
    contiguous: bool = True,
    futures: bool = False,
    market_name: str = "spot",
) -> dict[str, int]:
    """Every closed row equals the official kline, and (if contiguous) closed minutes have no holes.

    contiguous=False is for runs where an unrepaired gap must leave its minutes open; futures
    (or market_name="usdm") compares market_usdm's rows with the fake's USDⓈ-M contracts,
    market_name="coinm" market_coinm's with its COIN-M ones.
    """
    counts = {}
    if futures:
        market_name = "usdm"
    market, schema = {
        "spot": (fake.market, "market"),
        "usdm": (fake.usdm and fake.usdm.market, "market_usdm"),
        "coinm": (fake.coinm and fake.coinm.market, "market_coinm"),
    }[market_name]
    assert market is not None, f"the fake serves no {market_name}"
    for symbol in symbols:
        rows = closed_rows(database_url, symbol, schema)
        assert len(rows) >= min_rows, f"{symbol}: only {len(rows)} closed rows"
        first = int(rows[0]["open_time"].timestamp() * 1000)
        last = int(rows[-1]["open_time"].timestamp() * 1000)
        klines = market.klines(symbol, "1m", first, last, 1000)
        official = {k.open_time: k for k in klines}
        got = {int(r["open_time"].timestamp() * 1000): r for r in rows}
        if contiguous:
            assert sorted(got) == sorted(official), f"{symbol}: minutes differ from klines"
        else:
            assert set(got) <= set(official), f"{symbol}: closed minutes Binance has no kline for"
        for open_time, row in got.items():
            k = official[open_time]
            for name in KLINE_FIELDS:
                assert row[name] == getattr(k, name), (
                    f"{symbol} {row['open_time']} {name}: {row[name]} != {getattr(k, name)}"
                )
        counts[symbol] = len(rows)
    return counts


def gap_rows(database_url: str, schema: str = "market") -> list[dict]:
    """Every row of a market's ingest_gaps (spot's market.ingest_gaps by default)."""
    with (
        psycopg.connect(database_url) as conn,
        conn.cursor(row_factory=psycopg.rows.dict_row) as cur,
    ):
        cur.execute(f"select * from {schema}.ingest_gaps order by symbol, gap_start")
        return cur.fetchall()


async def start_streamer(
    fake: FakeBinance, database_url: str, log: Path, **variables: str
) -> asyncio.subprocess.Process:
    """`python -m streamer` on the fake with test-sized timings and ``variables`` (SYMBOLS,
    MARKETS...), its JSON log in a file (a pipe nobody reads fills up)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BINANCE_WS_URL": fake.url,
        "BINANCE_REST_URL": fake.url,
        "STREAMER_HEALTH_PORT": "0",
        "STREAMER_FLUSH_INTERVAL": "0.05",
        # The fake's clock runs 20x the host's: measured often, the exchange time stays close.
        "STREAMER_CLOCK_SYNC_INTERVAL": "0.2",
        "STREAMER_BACKOFF_INITIAL": "0.01",
        "STREAMER_BACKOFF_MAX": "0.2",
        **variables,
    }
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streamer", cwd=PROJECT_ROOT, env=env, stderr=out
        )


async def exec_streamer(env: dict[str, str]) -> asyncio.subprocess.Process:
    """`python -m streamer` from the project root with ``env``, its stderr a pipe to read."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer", cwd=PROJECT_ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )


def each_closed(database_url: str, symbols: Iterable[str]) -> Callable[[], bool]:
    """Whether every symbol has a closed minute in market (to wait for)."""
    return lambda: all(closed_rows(database_url, s) for s in symbols)


def closed_after(
    database_url: str, symbols: Iterable[str], minute_ms: int, schema: str = "market"
) -> Callable[[], bool]:
    """Whether every symbol's newest closed minute is later than ``minute_ms`` (to wait for)."""
    return lambda: all(
        (newest_closed_ms(database_url, s, schema) or 0) > minute_ms for s in symbols
    )


async def until_killed(
    process: asyncio.subprocess.Process, predicate: Callable[[], bool], within: float, what: str
) -> None:
    """Wait for ``predicate`` while ``process`` runs, then SIGKILL it (nothing flushed)."""
    try:
        await wait_until(predicate, within, what)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()


async def until_stopped(
    process: asyncio.subprocess.Process,
    log: Path,
    predicate: Callable[[], bool],
    within: float,
    what: str,
) -> None:
    """Wait for ``predicate`` while ``process`` runs, then SIGTERM it: it must exit 0."""
    try:
        await wait_until(predicate, within, what)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 40)
    # The log is read only for a failure's message, after the process has gone.
    assert process.returncode == 0, log.read_text()[-2000:]  # noqa: ASYNC240
