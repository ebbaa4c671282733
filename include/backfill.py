"""REST klines backfill into market.klines_1m: paged, resumable, never writes an open minute."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
import psycopg

from include import db, klines_store
from include.binance_rest import KLINES_LIMIT, BinanceRest
from include.klines_store import MINUTE_MS, datetime_to_ms, ms_to_datetime
from include.trades_to_candles import DECIMAL, format_decimals

logger = logging.getLogger(__name__)

REST_SCHEMA = {
    "open_time_ms": pl.Int64,
    "open": pl.Utf8,
    "high": pl.Utf8,
    "low": pl.Utf8,
    "close": pl.Utf8,
    "volume": pl.Utf8,
    "close_time_ms": pl.Int64,
    "quote_volume": pl.Utf8,
    "trade_count": pl.Int64,
    "taker_buy_volume": pl.Utf8,
    "taker_buy_quote_volume": pl.Utf8,
}


@dataclass
class BackfillResult:
    """Per symbol: rows fetched and rows written; plus the client's request statistics."""

    fetched: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    weight: int = 0
    throttled_429: int = 0

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())


def rest_rows_to_candles(rows: list[list]) -> pl.DataFrame:
    """REST kline arrays to the candle frame; decimal strings stay exact."""
    frame = pl.DataFrame([row[:11] for row in rows], schema=REST_SCHEMA, orient="row").with_columns(
        pl.col(c).cast(DECIMAL) for c in ("open", "high", "low", "close")
    )
    return format_decimals(frame)


def resume_point_ms(conn: psycopg.Connection, symbol: str, start_ms: int, end_ms: int) -> int:
    """Where a previous REST run over [start, end) stopped: after its last written minute."""
    row = conn.execute(
        "select max(open_time) from market.klines_1m "
        "where symbol = %s and source = 'rest' and open_time >= %s and open_time < %s",
        (symbol, ms_to_datetime(start_ms), ms_to_datetime(end_ms)),
    ).fetchone()
    if row is None or row[0] is None:
        return start_ms
    return datetime_to_ms(row[0]) + MINUTE_MS


def fetch_range(
    client: BinanceRest,
    conn: psycopg.Connection,
    symbol: str,
    start_ms: int,
    end_ms: int,
    closed_before_ms: int,
) -> tuple[int, int]:
    """Page [start, end) of one symbol into klines_1m, a transaction per page; (fetched, changed).

    Only minutes whose close time is before closed_before_ms (the exchange's clock) are
    written: Binance also returns the running minute, which is not official yet.
    """
    end_ms = min(end_ms, closed_before_ms - closed_before_ms % MINUTE_MS)
    cursor, fetched, changed = start_ms, 0, 0
    while cursor < end_ms:
        rows = client.klines_1m(symbol, cursor, end_ms - 1)
        closed = [r for r in rows if int(r[6]) < closed_before_ms and int(r[0]) < end_ms]
        if closed:
            with conn.transaction():
                changed += klines_store.upsert_candles(
                    conn, symbol, rest_rows_to_candles(closed), "rest"
                )
            fetched += len(closed)
        if len(rows) < KLINES_LIMIT:
            break
        cursor = int(rows[-1][0]) + MINUTE_MS
    return fetched, changed


def backfill_rest(
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    database_url: str | None = None,
    rest_url: str | None = None,
    client: BinanceRest | None = None,
    resume: bool = True,
) -> BackfillResult:
    """Load official 1m klines of [start, end) for each symbol from /api/v3/klines."""
    start_ms, end_ms = datetime_to_ms(start), datetime_to_ms(end)
    if end_ms <= start_ms:
        raise ValueError(f"empty range: {start.isoformat()} .. {end.isoformat()}")
    if start_ms % MINUTE_MS or end_ms % MINUTE_MS:
        raise ValueError("start and end must be whole minutes (UTC)")
    own_client = client is None
    client = client or BinanceRest(rest_url)
    result = BackfillResult()
    try:
        info = client.exchange_info()
        closed_before_ms = int(info["serverTime"])
        listed = {s["symbol"] for s in info.get("symbols", [])}
        unknown = [s.upper() for s in symbols if s.upper() not in listed]
        if unknown:
            raise ValueError(f"unknown symbol {unknown[0]}: exchangeInfo does not list it")
        url = database_url or db.resolve_database_url()
        with psycopg.connect(url, autocommit=True) as conn:
            klines_store.store_symbols(conn, info)
            for symbol in (s.upper() for s in symbols):
                begin = resume_point_ms(conn, symbol, start_ms, end_ms) if resume else start_ms
                if begin > start_ms:
                    logger.info("%s: resuming at %s", symbol, ms_to_datetime(begin).isoformat())
                fetched, changed = fetch_range(
                    client, conn, symbol, begin, end_ms, closed_before_ms
                )
                result.fetched[symbol], result.changed[symbol] = fetched, changed
                logger.info("%s: %d klines fetched, %d new or changed", symbol, fetched, changed)
    finally:
        result.requests = client.stats.requests
        result.weight = client.stats.weight
        result.throttled_429 = client.stats.throttled_429
        if own_client:
            client.close()
    return result


def parse_utc(text: str) -> datetime:
    """'2025-01-01', '2025-01-01T10:00' or with an offset: an aware UTC datetime."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise ValueError(
            f"{text!r} is not an ISO date or datetime (e.g. 2025-01-31T12:00)"
        ) from err
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
