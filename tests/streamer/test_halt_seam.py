"""A halted symbol trading again, with the streamer, heal-gaps and the continuity check all
running on one database: the minutes after the halt are held, the halted ones are a halt."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from fakebinance.clock import MarketClock
from fakebinance.server import FakeBinance
from include.history.heal import heal_gaps
from include.platform.times import MINUTE_MS
from include.quality.checks import Window
from include.quality.runner import run_checks
from include.timeframes import build_timeframes
from tests.support import streamer as support

pytestmark = pytest.mark.slow

SYMBOLS = ("BTCUSDT", "ETHUSDT")
HALTED = "ETHUSDT"
HALT_MINUTES = 4


def ms_utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def next_minute(ms: int) -> int:
    return -(-ms // MINUTE_MS) * MINUTE_MS


def halt_spans(database_url: str) -> list[tuple[datetime, datetime]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "select gap_start, gap_end from market.ingest_gaps "
            "where symbol = %s and reason = 'halt' order by gap_start",
            (HALTED,),
        ).fetchall()


def held(database_url: str, start: datetime, end: datetime) -> list[datetime]:
    """The minutes of [start, end) either source holds for the halted symbol (closed)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select open_time from market.klines_1m where symbol = %(s)s "
            "and open_time >= %(a)s and open_time < %(b)s union "
            "select open_time from market.candles_1m_live where symbol = %(s)s and is_closed "
            "and open_time >= %(a)s and open_time < %(b)s order by 1",
            {"s": HALTED, "a": start, "b": end},
        ).fetchall()
    return [r[0] for r in rows]


async def test_a_halted_symbol_trading_again_is_continuous(
    database_url: str, tmp_path: Path
) -> None:
    """ETHUSDT halts for a few minutes while the streamer runs and heal-gaps runs beside it (its
    production lag, so its horizon falls inside the halt, then inside the minutes after it);
    then it trades again. Every minute from the streamer's first to after the halt is held or
    recorded as a halt: the first minute back is held, no halted minute is, and the continuity
    check over the whole stretch passes. Each step waits for the state it needs (the market's
    clock, the rows), never for a wall-clock time."""
    clock = MarketClock(start=support.START, speed=support.SPEED)
    async with FakeBinance(support.market_config(), clock=clock, tick_interval=0.02) as fake:
        cfg = support.streamer_config(
            fake, database_url, symbols=SYMBOLS, symbols_refresh_interval=0.25
        )
        stop_healing = asyncio.Event()
        heals = 0

        async def heal_beside() -> None:
            # As binance_heal_gaps does, over and over while the rest runs.
            nonlocal heals
            while not stop_healing.is_set():
                await asyncio.to_thread(
                    heal_gaps, list(SYMBOLS), database_url=database_url, rest_url=fake.url
                )
                heals += 1
                await asyncio.sleep(0.2)

        async with support.running(cfg, fake):
            await support.wait_until(
                support.each_closed(database_url, SYMBOLS), 60, "closed minutes"
            )
            first = max(support.closed_rows(database_url, s)[0]["open_time"] for s in SYMBOLS)
            healer = asyncio.ensure_future(heal_beside())
            try:
                fake.set_status(HALTED, "HALT")
                halted_from = next_minute(fake.clock.now_ms())
                await support.wait_until(
                    lambda: bool(halt_spans(database_url)), 10, "the halt's record"
                )
                resumed_ms = halted_from + HALT_MINUTES * MINUTE_MS
                await support.wait_until(
                    lambda: fake.clock.now_ms() >= resumed_ms - 20_000, 60, "the halt's end"
                )
                fake.set_status(HALTED, "TRADING")
                resumed = ms_utc(next_minute(fake.clock.now_ms()))
                # Past heal's horizon (5 minutes) after the first minute back, both symbols.
                until = resumed + timedelta(minutes=7)
                await support.wait_until(
                    lambda: all(
                        (support.newest_closed(database_url, s) or first) >= until for s in SYMBOLS
                    ),
                    120,
                    "minutes closed past heal's horizon after the halt",
                )
                seen = heals
                await support.wait_until(lambda: heals >= seen + 2, 120, "two more heals")
            finally:
                stop_healing.set()
                await healer

            window = Window(first, until)
            await asyncio.to_thread(build_timeframes, database_url, unit_tests=False)
            report = await asyncio.to_thread(
                run_checks,
                database_url,
                window,
                symbols=SYMBOLS,
                expect_live=False,
                gx_root=tmp_path / "gx",
            )

    halted_minutes = held(database_url, ms_utc(halted_from), resumed)
    assert halted_minutes == [], "no halted minute has a candle"
    after = held(database_url, resumed, until)
    assert after == [resumed + timedelta(minutes=m) for m in range(7)], "the minutes back held"
    spans = halt_spans(database_url)
    covered = [
        m
        for m in range(halted_from, int(resumed.timestamp() * 1000), MINUTE_MS)
        if any(a <= ms_utc(m) < b for a, b in spans)
    ]
    assert len(covered) == (resumed.timestamp() * 1000 - halted_from) // MINUTE_MS, spans
    continuity = [r for r in report.failures if r.name == "continuity_minutes"]
    assert continuity == [], report.summary()
