"""Official klines for the dbt tests: load them, write live candles, read the marts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
from psycopg import sql

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, SymbolSpec, default_symbols, quiet_symbol, utc
from fakebinance.market import Market
from fakebinance.reference import RefKline, oracle_klines
from include.platform.times import CANDLE_FIELDS

CANDLE_COLUMNS = CANDLE_FIELDS
MARTS = ("1m", "5m", "15m", "1h", "4h", "1d", "1w")
TF_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440, "1w": 10080}
# Two whole Monday-aligned weeks, so every timeframe has complete candles.
WINDOW_START = utc(2024, 12, 30)
WINDOW_END = utc(2025, 1, 13)
# A halt inside the window: Binance has no klines for it, so the buckets around it are short.
HALT = (utc(2025, 1, 8, 10, 7), utc(2025, 1, 8, 13, 30))


@dataclass(frozen=True)
class Candle:
    """One candle as the marts hold it: key plus the nine Binance fields."""

    symbol: str
    open_time: datetime
    values: tuple[Decimal | int, ...]


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def kline_values(kline: RefKline) -> tuple[Decimal | int, ...]:
    return tuple(getattr(kline, column) for column in CANDLE_COLUMNS)


def frozen_market() -> Market:
    """A frozen fake market: two busy symbols and a quiet one with a halt inside the window."""
    symbols: tuple[SymbolSpec, ...] = (
        *default_symbols()[:2],
        quiet_symbol("QUIETUSDT", listed_at=utc(2024, 1, 1), halts=(HALT,)),
    )
    return Market(MarketConfig(7, symbols), MarketClock(start=utc(2025, 6, 1), speed=0))


_ORACLE_CACHE: dict[tuple, list[RefKline]] = {}


def official(
    market: Market, symbol: str, interval: str, start: datetime, end: datetime
) -> list[RefKline]:
    """Binance's official klines of one interval with open_time in [start, end), from the
    independent Decimal oracle (cached: a fortnight of trades in Decimal takes seconds)."""
    key = (id(market), symbol, interval, start, end)
    if key not in _ORACLE_CACHE:
        _ORACLE_CACHE[key] = oracle_klines(
            market, symbol, to_ms(start), to_ms(end), interval, closed_only=True
        )
    return _ORACLE_CACHE[key]


def window_official(market: Market) -> dict[str, list[RefKline]]:
    """Every symbol's official 1m klines over the two-week window."""
    return {s: official(market, s, "1m", WINDOW_START, WINDOW_END) for s in market.symbols}


def load_klines(
    conn: psycopg.Connection, symbol: str, klines: Iterable[RefKline], source: str = "dump_klines"
) -> int:
    """Upsert official klines into market.klines_1m the way a loader does (fresh loaded_at)."""
    rows = [(symbol, from_ms(k.open_time), *kline_values(k), source) for k in klines]
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "create temp table incoming (like market.klines_1m including defaults) on commit drop"
        )
        with cur.copy(
            "copy incoming (symbol, open_time, open, high, low, close, volume, quote_volume, "
            "trade_count, taker_buy_volume, taker_buy_quote_volume, source) from stdin"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            "insert into market.klines_1m select symbol, open_time, open, high, low, close, "
            "volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, "
            "source, now() from incoming "
            "on conflict (symbol, open_time) do update set "
            + ", ".join(f"{c} = excluded.{c}" for c in (*CANDLE_COLUMNS, "source", "loaded_at"))
        )
    return len(rows)


def write_live(
    conn: psycopg.Connection,
    symbol: str,
    open_time: datetime,
    values: Sequence[Decimal | int],
    *,
    is_closed: bool,
) -> None:
    """Write one live candle the way the streamer does."""
    conn.execute(
        "insert into market.candles_1m_live (symbol, open_time, open, high, low, close, volume, "
        "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, is_closed) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "on conflict (symbol, open_time) do update set "
        + ", ".join(f"{c} = excluded.{c}" for c in (*CANDLE_COLUMNS, "is_closed"))
        + ", updated_at = now()",
        (symbol, open_time, *values, is_closed),
    )


def mart_rows(
    conn: psycopg.Connection, tf: str, extra: Sequence[str] = ()
) -> dict[tuple[str, datetime], tuple]:
    """A mart as {(symbol, open_time): (nine fields..., *extra)}."""
    query = sql.SQL("select symbol, open_time, {} from analytics.{}").format(
        sql.SQL(", ").join(map(sql.Identifier, (*CANDLE_COLUMNS, *extra))),
        sql.Identifier(f"candles_{tf}"),
    )
    rows = conn.execute(query).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def mart_snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Every mart's full content except built_at, in key order."""
    out = {}
    for tf in MARTS:
        rows = conn.execute(
            sql.SQL("select * from analytics.{} order by symbol, open_time").format(
                sql.Identifier(f"candles_{tf}")
            )
        )
        names = [d.name for d in rows.description or ()]
        keep = [i for i, n in enumerate(names) if n not in ("built_at", "source_changed_at")]
        out[tf] = [tuple(row[i] for i in keep) for row in rows.fetchall()]
    return out
