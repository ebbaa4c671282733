"""Candles out of the platform: Parquet or CSV files by symbol, interval and range, streamed.

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
from datetime import datetime
from pathlib import Path

import polars as pl
import psycopg
from polars.io.plugins import register_io_source
from psycopg import sql

from include.platform.times import CANDLE_FIELDS
from include.sql import load_sql
from include.timeframes import TIMEFRAMES

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


def _batches(
    database_url: str, symbol: str, interval: str, start: datetime, end: datetime
) -> Iterator[pl.DataFrame]:
    """The candles as text-decimal frames of at most BATCH_ROWS rows each."""
    query = sql.SQL(load_sql("select_export_candles")).format(
        mart=sql.Identifier(f"candles_{interval}")
    )
    params = {"symbol": symbol, "start": start, "end": end}
    with psycopg.connect(database_url) as conn, conn.cursor(name="export") as cur:
        cur.itersize = BATCH_ROWS
        cur.execute(query, params)
        while rows := cur.fetchmany(BATCH_ROWS):
            wide = [row for row in rows if row[-1] is not None and row[-1] > SCALE]
            if wide:
                raise ValueError(
                    f"{symbol} {interval} {wide[0][1].isoformat()}: a value has {wide[0][-1]} "
                    f"decimals, more than Parquet's decimal(38, {SCALE}) holds; export as CSV"
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
    if interval not in TIMEFRAMES:
        raise ValueError(f"interval {interval!r}: one of {', '.join(TIMEFRAMES)}")
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
        raise ValueError(
            f"unknown symbol {unknown[0]}: analytics.candles_{interval} holds no candle of it"
        )
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
    """Every symbol with a candle in the interval's mart (its daily mart, a few rows a symbol)."""
    mart = "candles_1d" if interval != "1w" else "candles_1w"
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"select distinct symbol from analytics.{mart} order by 1").fetchall()
    return [row[0] for row in rows]
