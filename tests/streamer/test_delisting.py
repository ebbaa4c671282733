"""A symbol leaving TRADING while the streamer runs: its minutes up to the halt close exact, as
Binance's klines have them, and no halted minute becomes a candle, even when exchangeInfo
cannot be read for a while."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from fakebinance.clock import MarketClock
from fakebinance.config import DELISTED_UNTIL, MarketConfig, SymbolSpec, default_symbols
from fakebinance.server import FakeBinance
from include.platform.times import MINUTE_MS
from tests.support.streamer import (
    KLINE_FIELDS,
    SPEED,
    START,
    closed_rows,
    market_config,
    market_minutes,
    running,
    streamer_config,
    wait_until,
)

# Delisted 20 s into 12:02: its last trades are in 12:01, 12:02 has none and no kline.
DELISTED_AT = START + timedelta(minutes=2, seconds=20)


def live_rows(database_url: str, symbol: str) -> list[dict]:
    with (
        psycopg.connect(database_url) as conn,
        conn.cursor(row_factory=psycopg.rows.dict_row) as cur,
    ):
        cur.execute(
            "select * from market.candles_1m_live where symbol = %s order by open_time", (symbol,)
        )
        return cur.fetchall()


@pytest.mark.slow
async def test_a_delisted_symbols_last_minutes_close_as_its_klines(database_url: str) -> None:
    """GONEUSDT leaves TRADING (BREAK) mid-minute, and exchangeInfo shows it before the prober
    has proven its last traded minute complete (a probe failing under load, a gap under repair:
    here a long STREAMER_CLOSE_GRACE): the symbol is dropped with that minute open, which no
    later trade can close. Every minute of it the streamer wrote is still closed and equals its
    kline, the last traded one included, and no halted minute (no kline) is written. (On the
    old code the last traded minute stayed open for good.)"""
    gone = SymbolSpec(
        "GONEUSDT",
        Decimal("3.5"),
        4,
        2,
        90.0,
        START - timedelta(days=3),
        halts=((DELISTED_AT, DELISTED_UNTIL),),
    )
    config = MarketConfig(7, (*default_symbols(), gone))
    clock = MarketClock(start=START, speed=SPEED)
    async with FakeBinance(config, clock=clock, tick_interval=0.02) as fake:
        # Probes wait two market minutes: exchangeInfo (read every 40 market seconds) shows
        # BREAK first.
        cfg = streamer_config(
            fake, database_url, symbols=None, symbols_refresh_interval=2.0, close_grace=120.0
        )
        async with running(cfg, fake) as streamer:
            assert "GONEUSDT" in streamer.shard_of
            await wait_until(
                lambda: "GONEUSDT" not in streamer.shard_of, 30, "GONEUSDT unsubscribed"
            )
            halt_minute = DELISTED_AT.replace(second=0)
            end = int((halt_minute + timedelta(minutes=1)).timestamp() * 1000)
            await wait_until(
                lambda: fake.clock.now_ms() > end + 2 * MINUTE_MS, 30, "two minutes after it"
            )
            await wait_until(
                lambda: all(r["is_closed"] for r in live_rows(database_url, "GONEUSDT")),
                20,
                "every GONEUSDT minute closed",
            )
        rows = live_rows(database_url, "GONEUSDT")
        assert rows, "GONEUSDT never written"
        first = int(rows[0]["open_time"].timestamp() * 1000)
        official = {k.open_time: k for k in fake.market.klines("GONEUSDT", "1m", first, end, 100)}
        got = {int(r["open_time"].timestamp() * 1000): r for r in rows}
        assert sorted(got) == sorted(official), "minutes differ from Binance's klines"
        assert max(got) == int(halt_minute.timestamp() * 1000) - MINUTE_MS
        for open_time, row in got.items():
            for name in KLINE_FIELDS:
                assert row[name] == getattr(official[open_time], name), (open_time, name)


@pytest.mark.slow
async def test_a_halt_unseen_while_exchange_info_fails_gets_no_idle_minute(
    database_url: str,
) -> None:
    """ETHUSDT goes to BREAK while every exchangeInfo answer is unusable (no symbols): REST
    proves that no trade came, but not that the market was open, so its minutes after the last
    trade wait; once a read shows BREAK, none of them becomes an idle candle (Binance has no
    kline for a halted minute), while BTCUSDT closes its minutes all along. (On the old code
    the proof alone closed them as idle candles.)"""
    clock = MarketClock(start=START, speed=SPEED)
    async with FakeBinance(market_config(), clock=clock, tick_interval=0.02) as fake:
        symbols = ("BTCUSDT", "ETHUSDT")
        cfg = streamer_config(fake, database_url, symbols=symbols, symbols_refresh_interval=0.25)
        async with running(cfg, fake):
            await wait_until(
                lambda: all(closed_rows(database_url, s) for s in symbols), 60, "closed minutes"
            )
            fake.break_exchange_info("empty", answers=1_000_000)
            halted_from = -(-fake.clock.now_ms() // MINUTE_MS) * MINUTE_MS
            fake.set_status("ETHUSDT", "BREAK")
            # Two halted minutes over, and time for the prober to prove them empty.
            await wait_until(
                lambda: fake.clock.now_ms() > halted_from + 2 * MINUTE_MS, 30, "two minutes"
            )
            await market_minutes(fake, 0.5)
            fake.rest.exchange_info_faulty_answers = 0
            await wait_until(
                lambda: any(
                    int(r["open_time"].timestamp() * 1000) >= halted_from + MINUTE_MS
                    for r in closed_rows(database_url, "BTCUSDT")
                ),
                30,
                "BTCUSDT closing minutes past the halt",
            )
            await market_minutes(fake, 0.5)
    halted = [
        r["open_time"]
        for r in closed_rows(database_url, "ETHUSDT")
        if int(r["open_time"].timestamp() * 1000) >= halted_from
    ]
    assert not halted, f"halted minutes closed as idle candles: {halted}"
