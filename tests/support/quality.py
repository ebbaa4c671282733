"""A clean day of the fake exchange's klines for the data-quality tests, and its window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from fakebinance.clock import MarketClock, to_us
from fakebinance.config import MarketConfig, default_symbols
from fakebinance.market import Market
from include.platform.times import CANDLE_FIELDS
from include.quality import Window

DAY = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday, so the 1w bucket starts with it
WINDOW = Window(DAY, DAY + timedelta(days=1))
SYMBOLS = ("BTCUSDT", "ETHUSDT")
LIVE_HOURS = 2
CLEAN_DB = "quality_clean"
COLUMNS = (
    "symbol, open_time, open, high, low, close, volume, quote_volume, trade_count, "
    "taker_buy_volume, taker_buy_quote_volume"
)


def fake_klines(market: Market, symbol: str, start: datetime, end: datetime) -> list[tuple]:
    """The fake exchange's official 1m klines of [start, end) as table rows."""
    rows: list[tuple] = []
    cursor_ms, end_ms = to_us(start) // 1000, to_us(end) // 1000
    while cursor_ms < end_ms:
        batch = market.klines(symbol, "1m", start_ms=cursor_ms, end_ms=end_ms - 1, limit=1000)
        if not batch:
            break
        for k in batch:
            opened = datetime.fromtimestamp(k.open_time / 1000, UTC)
            rows.append((symbol, opened, *(getattr(k, name) for name in CANDLE_FIELDS)))
        cursor_ms = batch[-1].open_time + 60_000
    return rows


def load_clean_day(url: str) -> None:
    """A day of official klines per symbol, its last hours also as closed live candles."""
    config = MarketConfig(7, tuple(s for s in default_symbols() if s.symbol in SYMBOLS))
    market = Market(config, MarketClock(DAY + timedelta(days=2), speed=0))
    live_from = WINDOW.end - timedelta(hours=LIVE_HOURS)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for symbol in SYMBOLS:
            cur.execute(
                "insert into market.symbols (symbol, status) values (%s, 'TRADING')", (symbol,)
            )
            rows = fake_klines(market, symbol, WINDOW.start, WINDOW.end)
            assert len(rows) == 1440
            # Written now, just before the build, as the soak and the quality bench write
            # theirs: a check compares every candle whose minutes its build read, however
            # recent (docs/quality.md).
            cur.executemany(
                f"insert into market.klines_1m ({COLUMNS}, source) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'rest')",
                rows,
            )
            # The streamer wrote these as each minute closed: no streamer writes now, which
            # the checks' freshness and market-minute rules read from the write times.
            cur.executemany(
                f"insert into market.candles_1m_live ({COLUMNS}, is_closed, updated_at) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true, "
                "%s + interval '61 seconds')",
                [(*row, row[1]) for row in rows if row[1] >= live_from],
            )
