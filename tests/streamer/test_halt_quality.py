"""A trading halt seen by the streamer and the quality checks together: a real halt never
turns data_quality red, before heal-gaps has confirmed it too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, default_symbols
from fakebinance.server import FakeBinance
from include.platform.times import MINUTE_MS
from include.quality.checks import Window
from include.quality.runner import run_checks
from include.timeframes import build_timeframes
from tests.support import streamer as support

pytestmark = pytest.mark.slow

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def ms_utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def halt_rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "select symbol, gap_start, gap_end, detected_by, healed_at from market.ingest_gaps "
            "where reason = 'halt' order by gap_start"
        ).fetchall()


# Minutes of the wall clock: ETHUSDT must go stale past the platform's two minutes, then a
# minute must close right before the check, after a dbt build.
@pytest.mark.timeout(600)
async def test_a_fresh_halt_keeps_data_quality_green(database_url: str, tmp_path: Path) -> None:
    """ETHUSDT halts while the streamer runs (exchangeInfo shows HALT): the streamer records
    the halt and widens it while it lasts, so a quality run over the live minutes, freshness
    included, passes; the same run with that record removed fails (the check can fail)."""
    # The fake's clock is the wall's: the quality checks judge freshness by the database's.
    async with FakeBinance(MarketConfig(5, default_symbols()), clock=MarketClock()) as fake:
        cfg = support.streamer_config(
            fake, database_url, symbols=SYMBOLS, symbols_refresh_interval=0.5, close_grace=1.0
        )
        async with support.running(cfg, fake) as _streamer:
            await support.wait_until(
                support.each_closed(database_url, SYMBOLS), 90, "closed minutes"
            )
            at = fake.clock.now_ms()
            fake.set_status("ETHUSDT", "HALT")
            # The fake halts from the next minute: ETHUSDT's newest candle is at most this one.
            last_eth = ms_utc(at - at % MINUTE_MS)
            await support.wait_until(lambda: bool(halt_rows(database_url)), 10, "the halt's record")
            # More than the platform's two minutes later ETHUSDT is stale and missing minutes,
            # but for the halt: the record is widened while it lasts (waited for: the streamer
            # widens it on its own schedule, and without widening the wait fails).
            later = last_eth + timedelta(minutes=3, seconds=10)
            await support.wait_until(
                lambda: halt_rows(database_url)[-1][2] >= later - timedelta(minutes=1),
                240,
                "the halt's record widened to a minute before three past ETHUSDT's last",
            )
            [(symbol, _start, _end, detected_by, healed_at)] = halt_rows(database_url)
            assert (symbol, detected_by, healed_at) == ("ETHUSDT", "streamer", None)
            await support.wait_until(
                lambda: datetime.now(UTC) >= later, 240, "three minutes passed"
            )

            # data_quality runs beside the streamer, as it does in production: the window ends
            # at the minute now begins, every minute before it closed by the streamer.
            first = min(support.closed_rows(database_url, s)[0]["open_time"] for s in SYMBOLS)
            window = Window(first, datetime.now(UTC).replace(second=0, microsecond=0))
            await support.wait_until(
                lambda: (
                    support.newest_closed(database_url, "BTCUSDT")
                    >= window.end - timedelta(minutes=1)
                ),
                30,
                "BTCUSDT's minutes before the window's end to close",
            )
            await asyncio.to_thread(build_timeframes, database_url, unit_tests=False)
            # Freshness is judged at the check, after the build (however long that took under
            # load): it starts as BTCUSDT closes a minute, so BTCUSDT is seconds old, not more
            # than the platform's two minutes (how late this test runs cannot turn it red).
            newest = support.newest_closed(database_url, "BTCUSDT")
            await support.wait_until(
                lambda: support.newest_closed(database_url, "BTCUSDT") > newest,
                90,
                "BTCUSDT's next minute to close",
            )

            def check():
                return run_checks(
                    database_url,
                    window,
                    symbols=SYMBOLS,
                    expect_live=True,
                    gx_root=tmp_path / "gx",
                )

            report = await asyncio.to_thread(check)
    assert report.success, report.summary()
    [halts] = [n for n in report.notes if n.name == "halts"]
    assert [r["symbol"] for r in halts.rows] == ["ETHUSDT"]

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from market.ingest_gaps where reason = 'halt'")
    unexplained = check()
    assert {(r.name, row["symbol"]) for r in unexplained.failures for row in r.rows} >= {
        ("live_freshness", "ETHUSDT")
    }


async def test_a_halt_ending_unseen_is_never_filled_with_idle_minutes(database_url: str) -> None:
    """ETHUSDT halts, then Binance bans the IP for three minutes (another client spent the
    weight): the streamer can neither read exchangeInfo nor prove the halted minutes empty.
    Just after the ban, ETHUSDT shows TRADING again, its trades resuming at the next minute.
    The halted minutes still open have no kline, so none may become an idle candle; the halt's
    record reaches the read that showed it trading (heal-gaps cuts it at the first kline), and
    the symbol closes minutes again. (On the old code, those minutes became idle candles and
    the record ended at the last read before the ban.)"""
    clock = MarketClock(start=support.START, speed=support.SPEED)
    # A 9 s ban is three market minutes at 20x; the weight spent is forgotten 10 s on.
    async with FakeBinance(
        support.market_config(), clock=clock, tick_interval=0.02, ban_base=9, weight_window=10
    ) as fake:
        # exchangeInfo read often: after the ban it shows TRADING before a probe runs.
        cfg = support.streamer_config(
            fake, database_url, symbols=SYMBOLS, symbols_refresh_interval=0.25
        )
        async with support.running(cfg, fake):
            await support.wait_until(
                support.each_closed(database_url, SYMBOLS), 60, "closed minutes"
            )
            at = fake.clock.now_ms()
            fake.set_status("ETHUSDT", "HALT")
            halted_from = -(-at // MINUTE_MS) * MINUTE_MS
            await support.wait_until(lambda: bool(halt_rows(database_url)), 10, "the halt's record")
            # The ban: from second 20 of a minute to second 20 three minutes on (9 s wall).
            await support.wait_until(
                lambda: 20_000 <= fake.clock.now_ms() % MINUTE_MS < 25_000, 10, "20 s"
            )
            banned_at = fake.clock.now_ms()
            fake.ban(9)
            # ETHUSDT shows TRADING when the ban ends (the streamer reads nothing before), its
            # trades resuming at the minute after the ban: the halted minutes the ban kept open
            # are proven empty in between. Set in the same step as the ban, so how late this
            # test runs cannot move it.
            resumed = (banned_at // MINUTE_MS + 4) * MINUTE_MS
            fake.set_status("ETHUSDT", "TRADING", trades_from_ms=resumed)
            await support.wait_until(
                lambda: any(
                    r["open_time"] >= ms_utc(resumed)
                    for r in support.closed_rows(database_url, "ETHUSDT")
                ),
                60,
                "ETHUSDT closing minutes again",
            )
            await support.wait_until(
                lambda: not unrecorded(database_url, halted_from, resumed),
                30,
                "every halted minute recorded as a halt",
            )
            # Time for the prober to close every minute it would.
            await support.market_minutes(fake, 1)

    halted = [
        r["open_time"]
        for r in support.closed_rows(database_url, "ETHUSDT")
        if ms_utc(halted_from) <= r["open_time"] < ms_utc(resumed)
    ]
    assert not halted, f"halted minutes closed as candles: {halted}"


def unrecorded(database_url: str, start_ms: int, end_ms: int) -> list[datetime]:
    """The minutes in [start_ms, end_ms) no halt record covers."""
    spans = [(start, end) for _s, start, end, _by, _healed in halt_rows(database_url)]
    minutes = [ms_utc(m) for m in range(start_ms, end_ms, MINUTE_MS)]
    return [m for m in minutes if not any(a <= m < b for a, b in spans)]
