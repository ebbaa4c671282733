"""The push's reads of the tables: minutes and seconds by (symbol, open) key, one candle of any
interval as /api/v3/klines reads it, and the closed-candle rule the push and gRPC History both
mark candles by (here, where both reach it: this module imports nothing of api.push)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection

from api.klines import KlinesRequest, Row, fetch_klines
from api.sql import load_sql
from include.platform.intervals import MINUTE_MS, SECOND, bucket_end
from include.platform.markets import SPOT, Market

PUSH_MINUTES = load_sql("push_minutes")
PUSH_SECONDS = load_sql("push_seconds")


async def fetch_candle(
    conn: AsyncConnection,
    symbol: str,
    interval: str,
    open_ms: int,
    offset_ms: int = 0,
    market: Market = SPOT,
) -> Row | None:
    """The one candle of ``interval`` (read in the zone ``offset_ms`` ahead of UTC) opening at
    ``open_ms``, as it stands now (of the market)."""
    req = KlinesRequest(symbol, interval, open_ms, open_ms, 1, offset_ms, market.name)
    rows = await fetch_klines(conn, req)
    return rows[0] if rows else None


@dataclass(frozen=True)
class Minute:
    """A 1m candle as the tables hold it: Binance's kline row, whether it is closed (official,
    or closed by the streamer) and the trade-id range the streamer built it from (-1 if none)."""

    symbol: str
    row: Row
    closed: bool
    first_trade_id: int
    last_trade_id: int


async def fetch_seconds(
    conn: AsyncConnection, keys: list[tuple[str, int]]
) -> list[tuple[str, Row, bool]]:
    """The 1s candles of those (symbol, open ms) keys that exist: (symbol, row, closed)."""
    if not keys:
        return []
    symbols, opens = zip(*keys, strict=True)
    cur = await conn.execute(PUSH_SECONDS, {"symbols": list(symbols), "opens": list(opens)})
    return [(r[0], tuple(r[1:11]), r[11]) for r in await cur.fetchall()]


async def fetch_minutes(
    conn: AsyncConnection, keys: list[tuple[str, int]], market: Market = SPOT
) -> list[Minute]:
    """The 1m candles of those (symbol, open ms) keys that exist, read from the market's tables."""
    if not keys:
        return []
    symbols, opens = zip(*keys, strict=True)
    cur = await conn.execute(
        market.sql(PUSH_MINUTES), {"symbols": list(symbols), "opens": list(opens)}
    )
    return [Minute(r[0], tuple(r[1:11]), r[11], r[12], r[13]) for r in await cur.fetchall()]


def last_minute(interval: str, start_ms: int, offset_ms: int = 0) -> int:
    """The open time of the last minute of the candle of ``interval`` opening at ``start_ms``:
    the candle is closed when that minute is."""
    return bucket_end(interval, start_ms, offset_ms) - MINUTE_MS


async def closed_candles(
    conn: AsyncConnection,
    symbol: str,
    interval: str,
    offset_ms: int,
    opens: list[int],
    market: Market = SPOT,
) -> set[int]:
    """Which of these candles (open ms) the tables hold closed, never the wall clock's say: a
    candle when its last minute is official or closed by the streamer; a 1s candle when the
    streamer closed it. The push and gRPC History both mark candles by it."""
    if interval == SECOND:
        seconds = await fetch_seconds(conn, [(symbol, start) for start in opens])
        return {row[0] for _symbol, row, closed in seconds if closed}
    last = {last_minute(interval, start, offset_ms): start for start in opens}
    minutes = await fetch_minutes(conn, [(symbol, minute) for minute in last], market)
    return {last[m.row[0]] for m in minutes if m.closed}
