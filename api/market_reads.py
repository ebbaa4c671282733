"""The reads behind exchangeInfo and the tickers: the symbols held, their latest prices and
their trade statistics over a window of minutes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg import AsyncConnection

from api.sql import load_sql
from include.platform.intervals import DAY_MS, to_datetime
from include.platform.markets import SPOT, Market

SYMBOLS_SQL = load_sql("symbols")
TICKER_PRICE = load_sql("ticker_price")
TICKER_WINDOW = load_sql("ticker_window")


@dataclass(frozen=True)
class SymbolInfo:
    """A symbol held, with what Binance's exchangeInfo last said of it (None when never read)."""

    symbol: str
    status: str | None
    base_asset: str | None
    quote_asset: str | None
    # exchangeInfo's filters as Binance gave them (tickSize, stepSize, ...); None until read.
    filters: list | None = None
    # The open time of its first 1d kline at Binance, where its 3d grid starts; None until read.
    first_day_ms: int | None = None


async def fetch_symbols(conn: AsyncConnection, market: Market = SPOT) -> list[SymbolInfo]:
    """Every symbol the platform holds candles or listing data for (of the market)."""
    # A generic plan, prepared at once: made once per connection (api/symbols.py,
    # warm_symbols), where each read planned anew over every partition (50 ms of its 70 over
    # a year of history).
    async with conn.transaction():
        await conn.execute("set local plan_cache_mode = force_generic_plan")
        cur = await conn.execute(market.sql(SYMBOLS_SQL), prepare=True)
        return [SymbolInfo(*r) for r in await cur.fetchall()]


async def fetch_prices(
    conn: AsyncConnection, symbols: list[str], market: Market = SPOT
) -> list[tuple[str, str]]:
    """(symbol, latest price) of those symbols that have a candle, by symbol (of the market)."""
    cur = await conn.execute(market.sql(TICKER_PRICE), {"symbols": symbols})
    return [(r[0], r[1]) for r in await cur.fetchall()]


async def fetch_window_stats(
    conn: AsyncConnection, symbols: list[str], start_ms: int, market: Market = SPOT
) -> list[dict]:
    """Each symbol's trade statistics over the minutes from ``start_ms`` on (ticker_window.sql),
    by symbol; symbols without a candle are left out."""
    # Minutes open after now are in no window; a day's margin for a writer's clock ahead of ours.
    until = to_datetime(int(time.time() * 1000) + DAY_MS)
    cur = await conn.execute(
        market.sql(TICKER_WINDOW),
        {"symbols": symbols, "start": to_datetime(start_ms), "until": until},
    )
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
