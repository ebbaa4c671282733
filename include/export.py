"""Candles out of the platform: Parquet or CSV files by symbol, interval and range, streamed.

Every interval the read API serves (Binance's sixteen): a stored one from its mart (1s from the
streamer's table), the others summed from the stored interval the API sums them from, in UTC
(3d on the symbol's own grid, from its first day of trading), with the API's roll-up rule.

One file per symbol, `<out>/<SYMBOL>-<interval>.<format>` (Binance's dump naming), written by
polars from batches of a server-side cursor, so a year of ALL never sits in memory at once.
Decimals stay exact: CSV carries PostgreSQL's own text of each value, Parquet a decimal(38, 18)
column, and a value with more decimals than that stops the export instead of being rounded.
``floats`` writes float64 columns instead, for pandas users who want them (binary floats round:
never the default).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import polars as pl
import psycopg
from polars.io.plugins import register_io_source
from psycopg import sql

from include.platform.intervals import (
    INTERVAL_MS,
    INTERVALS,
    MONTH,
    ORIGIN_MS,
    SECOND,
    UnknownGrid,
    bucket_end,
    bucket_start,
    grid_offset,
    roll_ratio,
    rolled_from,
)
from include.platform.times import CANDLE_FIELDS, DAY_MS, to_datetime, to_ms
from include.sql import load_sql

FORMATS = ("parquet", "csv")
# A symbol names a file under --out: letters and digits only, so no `..` or `/` leaves it.
SYMBOL = re.compile(r"[A-Z0-9]{2,30}")
COLUMNS = CANDLE_FIELDS
DECIMALS = tuple(name for name in CANDLE_FIELDS if name != "trade_count")
SCALE = 18
BATCH_ROWS = 100_000
TEXT_SCHEMA = pl.Schema(
    {
        "symbol": pl.String,
        "open_time": pl.Datetime("ms", "UTC"),
        **{name: pl.Int64 if name == "trade_count" else pl.String for name in COLUMNS},
        "is_complete": pl.Boolean,
    }
)


@dataclass(frozen=True)
class Exported:
    """One file written: where, and how many candles it holds."""

    path: Path
    rows: int


def _statement(
    conn: psycopg.Connection, symbol: str, interval: str, start: datetime, end: datetime
) -> tuple[sql.Composed, dict] | None:
    """The query for one symbol's candles of ``interval`` in [start, end) and its parameters
    (None: no whole candle of a rolled-up interval opens in the range)."""
    if interval == SECOND:
        table, complete = sql.Identifier("market", "candles_1s_live"), sql.SQL("is_closed")
    elif rolled_from(interval) is None:
        table, complete = sql.Identifier("analytics", f"candles_{interval}"), sql.SQL("is_complete")
    else:
        return _rolled(conn, symbol, interval, start, end)
    query = sql.SQL(load_sql("select_export_candles")).format(table=table, complete=complete)
    return query, {"symbol": symbol, "start": start, "end": end}


def _rolled(
    conn: psycopg.Connection, symbol: str, interval: str, start: datetime, end: datetime
) -> tuple[sql.Composed, dict] | None:
    """An interval no mart holds, summed from its stored source (rolled_from) over the source
    rows of the whole candles opening in [start, end)."""
    source = rolled_from(interval)
    offset = 0 if interval != "3d" else _three_day_grid(conn, symbol)
    lo, hi = to_ms(start), to_ms(end)
    first = bucket_start(interval, lo, offset)
    if first < lo:
        first = bucket_end(interval, first, offset)
    if first >= hi:
        return None
    last = bucket_end(interval, bucket_start(interval, hi - 1, offset), offset)
    params = {"symbol": symbol, "first": to_datetime(first), "last": to_datetime(last)}
    if interval == MONTH:
        bucket = sql.SQL("date_trunc('month', stored.open_time, 'UTC')")
        # A whole month holds one stored day per day of the month (its last day's number).
        expected = sql.SQL(
            "extract(day from (bucket at time zone 'UTC') + interval '1 month' - interval '1 day')"
            " * {per_day}"
        ).format(per_day=sql.Literal(DAY_MS // INTERVAL_MS[source]))
    else:
        bucket = sql.SQL("date_bin(%(size)s, stored.open_time, %(origin)s)")
        expected = sql.Literal(roll_ratio(interval, source))
        params |= {
            "size": timedelta(milliseconds=INTERVAL_MS[interval]),
            "origin": to_datetime(ORIGIN_MS[interval] - offset),
        }
    query = sql.SQL(load_sql("select_export_rolled")).format(
        mart=sql.Identifier(f"candles_{source}"), bucket=bucket, expected=expected
    )
    return query, params


def _three_day_grid(conn: psycopg.Connection, symbol: str) -> int:
    """The offset of the symbol's own 3d grid (every three days from its first day of trading)."""
    row = conn.execute(
        "select first_day from market.symbols where symbol = %s", (symbol,)
    ).fetchone()
    first_day = None if row is None else row[0]
    first_ms = None if first_day is None else to_ms(datetime.combine(first_day, time(), UTC))
    try:
        return grid_offset("3d", 0, first_ms)
    except UnknownGrid as unknown:
        raise ValueError(f"{symbol} 3d: {unknown}") from None


def _batches(
    database_url: str, symbol: str, interval: str, start: datetime, end: datetime
) -> Iterator[pl.DataFrame]:
    """The candles as text-decimal frames of at most BATCH_ROWS rows each."""
    with psycopg.connect(database_url) as conn:
        planned = _statement(conn, symbol, interval, start, end)
        if planned is None:
            return
        query, params = planned
        with conn.cursor(name="export") as cur:
            cur.itersize = BATCH_ROWS
            cur.execute(query, params)
            while rows := cur.fetchmany(BATCH_ROWS):
                wide = [row for row in rows if row[-1] is not None and row[-1] > SCALE]
                if wide:
                    raise ValueError(
                        f"{symbol} {interval} {wide[0][1].isoformat()}: a value has "
                        f"{wide[0][-1]} decimals, more than Parquet's decimal(38, {SCALE}) "
                        "holds; export as CSV"
                    )
                yield pl.DataFrame([row[:-1] for row in rows], schema=TEXT_SCHEMA, orient="row")


def _lazy(database_url: str, symbol: str, interval: str, start: datetime, end: datetime):
    """A LazyFrame over the batches, for polars' streaming sinks."""

    def source(with_columns, predicate, n_rows, batch_size) -> Iterator[pl.DataFrame]:
        for frame in _batches(database_url, symbol, interval, start, end):
            if with_columns is not None:
                frame = frame.select(with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            yield frame

    return register_io_source(io_source=source, schema=TEXT_SCHEMA)


def export(
    database_url: str,
    symbols: list[str] | None,
    interval: str,
    start: datetime,
    end: datetime,
    out_dir: Path,
    fmt: str = "parquet",
    *,
    floats: bool = False,
) -> list[Exported]:
    """Write each symbol's candles of `interval` in [start, end) to its own file under out_dir
    (``symbols`` None: every symbol held); a symbol the interval's mart holds no candle of is
    refused before any file is written."""
    if interval not in INTERVALS and interval != SECOND:
        raise ValueError(f"interval {interval!r}: one of {SECOND}, {', '.join(INTERVALS)}")
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: parquet or csv")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    for symbol in symbols or ():
        if not SYMBOL.fullmatch(symbol):
            raise ValueError(f"symbol {symbol!r}: not a Binance symbol (2-30 letters and digits)")
    held = symbols_held(database_url, interval)
    symbols, known = (held if symbols is None else symbols), set(held)
    if unknown := [symbol for symbol in symbols if symbol not in known]:
        table = "market.candles_1s_live" if interval == SECOND else "the platform"
        raise ValueError(f"unknown symbol {unknown[0]}: {table} holds no {interval} candle of it")
    if interval == "3d":
        # Each symbol's own grid, known before any file is written.
        with psycopg.connect(database_url) as conn:
            for symbol in symbols:
                _three_day_grid(conn, symbol)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for symbol in symbols:
        path = out_dir / f"{symbol}-{interval}.{fmt}"
        partial = path.with_name(path.name + ".partial")
        frames = _lazy(database_url, symbol, interval, start, end)
        if floats:
            frames = frames.with_columns(pl.col(name).cast(pl.Float64) for name in DECIMALS)
        if fmt == "parquet":
            if not floats:
                decimals = [pl.col(name).cast(pl.Decimal(38, SCALE)) for name in DECIMALS]
                frames = frames.with_columns(decimals)
            frames.sink_parquet(partial)
        else:
            frames.sink_csv(partial)
        # A file under its final name is whole: an export cut short leaves only a .partial.
        partial.replace(path)
        rows = pl.scan_parquet(path) if fmt == "parquet" else pl.scan_csv(path)
        written.append(Exported(path, rows.select(pl.len()).collect().item()))
    return written


def symbols_held(database_url: str, interval: str) -> list[str]:
    """Every symbol with a candle of the interval: in its daily mart (a few rows a symbol; the
    weekly one for 1w), or for 1s in the streamer's 1s table (SECOND_CANDLE_SYMBOLS only)."""
    table = {SECOND: "market.candles_1s_live", "1w": "analytics.candles_1w"}.get(
        interval, "analytics.candles_1d"
    )
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"select distinct symbol from {table} order by 1").fetchall()
    return [row[0] for row in rows]
