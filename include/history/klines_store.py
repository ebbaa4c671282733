"""Writes candles into market.klines_1m (COPY + upsert) and remembers imported dump files."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import polars as pl
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from include.platform.markets import SPOT, Market
from include.platform.times import CANDLE_FIELDS
from include.sql import load_sql

logger = logging.getLogger(__name__)

SOURCES = ("rest", "dump_klines", "dump_trades", "dump_aggtrades")
# The candle frame every loader produces: open_time in epoch ms, decimals as exact strings.
CANDLE_COLUMNS = ("open_time_ms", *CANDLE_FIELDS)
_FIXED8 = re.compile(r"-?[0-9]+\.[0-9]{8}")
# A REST row as it nearly always comes: integers and 8-decimal strings, checked in one match.
_REST_LINE = re.compile(r"[0-9]+(?:,-?[0-9]+\.[0-9]{8}){6},[0-9]+(?:,-?[0-9]+\.[0-9]{8}){2}")
_COPY_STAGE = sql.SQL("copy pg_temp.stage_klines ({}) from stdin (format csv)").format(
    sql.SQL(", ").join(map(sql.Identifier, CANDLE_COLUMNS))
)


@dataclass(frozen=True)
class ImportedFile:
    """A dump file already loaded, as market.imported_files remembers it."""

    file_name: str
    checksum: str
    row_count: int
    candle_count: int


def upsert_candles(
    conn: psycopg.Connection,
    symbol: str,
    candles: pl.DataFrame,
    source: str,
    market: Market = SPOT,
) -> int:
    """COPY a candle frame into market.klines_1m (the market's) inside the caller's
    transaction.

    Returns the number of rows inserted or changed; identical rows are left untouched.
    """
    if candles.height == 0:
        return 0
    buffer = io.BytesIO()
    candles.select(CANDLE_COLUMNS).write_csv(buffer, include_header=False)
    return upsert_csv(conn, symbol, buffer.getvalue(), source, market)


def upsert_rest_klines(
    conn: psycopg.Connection,
    symbol: str,
    rows: Sequence[Sequence],
    source: str = "rest",
    market: Market = SPOT,
) -> int:
    """COPY /api/v3/klines rows into market.klines_1m (the market's) inside the caller's
    transaction.

    Returns the number of rows inserted or changed; identical rows are left untouched.
    """
    return upsert_csv(conn, symbol, rest_klines_csv(rows), source, market)


def rest_klines_csv(rows: Sequence[Sequence]) -> bytes:
    """/api/v3/klines rows as CSV in CANDLE_COLUMNS order, for ``upsert_csv``.

    The decimal strings go to PostgreSQL as Binance sent them (8 decimals, the form
    ``format_decimals`` gives every loader), skipping a dataframe: this is the backfill's hot
    path, and it runs in the fetching threads so the writer only writes.
    """
    lines = []
    for r in rows:
        line = f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]},{r[5]},{r[7]},{r[8]},{r[9]},{r[10]}"
        if not _REST_LINE.fullmatch(line):
            line = (
                f"{int(r[0])},{_dec(r[1])},{_dec(r[2])},{_dec(r[3])},{_dec(r[4])},{_dec(r[5])},"
                f"{_dec(r[7])},{int(r[8])},{_dec(r[9])},{_dec(r[10])}"
            )
        lines.append(line + "\n")
    return "".join(lines).encode()


def _dec(text: object) -> str:
    """A wire decimal as an exact string with at least 8 decimals and no excess zeros."""
    if isinstance(text, str) and _FIXED8.fullmatch(text):
        return text
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {text!r}")
    whole, _, frac = f"{value:f}".partition(".")
    frac = frac.ljust(8, "0")
    return f"{whole}.{frac[:8]}{frac[8:].rstrip('0')}"


def upsert_csv(
    conn: psycopg.Connection, symbol: str, csv: bytes, source: str, market: Market = SPOT
) -> int:
    """COPY CSV candles (CANDLE_COLUMNS, no header) into market.klines_1m (the market's) via
    the stage table.

    Runs inside the caller's transaction; returns the rows inserted or changed.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if not csv:
        return 0
    conn.execute(load_sql("create_stage_klines"))
    conn.execute("truncate pg_temp.stage_klines")
    with conn.cursor() as cur:
        with cur.copy(_COPY_STAGE) as copy:
            copy.write(csv)
        ensure_staged_months(cur, market.table("klines_1m"), "stage_klines")
        cur.execute(market.sql(load_sql("upsert_klines_1m")), {"symbol": symbol, "source": source})
        changed = cur.rowcount
        # Older minutes than heal-gaps has checked may leave holes behind them: look again.
        cur.execute(
            market.sql(
                "update market.heal_watermarks set checked_until = s.first, updated_at = now() "
                "from (select timestamptz 'epoch' + min(open_time_ms) * interval '1 millisecond' "
                "as first from pg_temp.stage_klines) as s "
                "where symbol = %s and checked_until > s.first"
            ),
            (symbol,),
        )
    logger.debug("%s: %d candles new or changed", symbol, changed)
    return changed


def ensure_staged_months(cur: psycopg.Cursor, table: str, stage: str) -> None:
    """The months a staged load (pg_temp.<stage>, open_time_ms) is about to write into the
    table get partitions of their own before the rows arrive (a dump of 2017 would otherwise
    land in the DEFAULT partition); a no-op once they exist."""
    cur.execute(
        sql.SQL(
            "select market.ensure_month_partitions(%s::regclass, "
            "timestamptz 'epoch' + min(open_time_ms) * interval '1 millisecond', "
            "timestamptz 'epoch' + (max(open_time_ms) + 1) * interval '1 millisecond') "
            "from {}"
        ).format(sql.Identifier("pg_temp", stage)),
        (table,),
    )


def imported_file(
    conn: psycopg.Connection, file_name: str, market: Market = SPOT
) -> ImportedFile | None:
    """The bookkeeping row of a dump file (of the market), if it was imported before."""
    row = conn.execute(
        market.sql(
            "select file_name, checksum, row_count, candle_count from market.imported_files "
            "where file_name = %s"
        ),
        (file_name,),
    ).fetchone()
    return ImportedFile(*row) if row else None


def remember_file(
    conn: psycopg.Connection,
    *,
    file_name: str,
    kind: str,
    symbol: str,
    checksum: str,
    row_count: int,
    candle_count: int,
    source: str,
    market: Market = SPOT,
) -> None:
    """Record (or refresh) an imported dump file, in the same transaction as its rows."""
    conn.execute(
        market.sql(load_sql("upsert_imported_file")),
        (file_name, kind, symbol, checksum, row_count, candle_count, source),
    )


def reopen_heal(
    conn: psycopg.Connection, symbol: str, since: datetime, market: Market = SPOT
) -> None:
    """Move the symbol's heal watermark back to since (a minute before it changed)."""
    conn.execute(
        market.sql(
            "update market.heal_watermarks set checked_until = %s, updated_at = now() "
            "where symbol = %s and checked_until > %s"
        ),
        (since, symbol, since),
    )


def known_symbols(conn: psycopg.Connection, market: Market = SPOT) -> set[str]:
    """Symbols market.symbols (the market's) knows (empty when exchangeInfo was never
    stored)."""
    return {row[0] for row in conn.execute(market.sql("select symbol from market.symbols"))}


def store_symbols(conn: psycopg.Connection, exchange_info: dict, market: Market = SPOT) -> int:
    """Upsert exchangeInfo's symbols, statuses and filters into market.symbols (the market's);
    return how many."""
    rows = [
        (
            s["symbol"],
            # COIN-M names it contractStatus.
            s["status"] if "status" in s else s["contractStatus"],
            s.get("baseAsset"),
            s.get("quoteAsset"),
            Jsonb(s["filters"]) if isinstance(s.get("filters"), list) else None,
        )
        for s in exchange_info.get("symbols", [])
    ]
    with conn.cursor() as cur:
        cur.executemany(market.sql(load_sql("upsert_symbols")), rows)
    return len(rows)
