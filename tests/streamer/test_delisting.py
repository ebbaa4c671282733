"""SYMBOLS=ALL and a symbol delisted while the streamer runs: its minutes up to the halt close
exact, as Binance's klines have them, and no halted minute becomes a candle."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg

from fakebinance.clock import MarketClock
from fakebinance.config import DELISTED_UNTIL, MarketConfig, SymbolSpec, default_symbols
from fakebinance.server import FakeBinance
from include.platform.times import MINUTE_MS
from tests.support.streamer import (
    KLINE_FIELDS,
    SPEED,
    START,
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
