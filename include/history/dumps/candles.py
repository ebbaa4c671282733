"""A dump's parsed rows, of any kind, to 1m candles: time unit, alignment, idle minutes."""

from __future__ import annotations

import polars as pl

from include.history.dumps.errors import DumpError
from include.history.trades_to_candles import (
    candles_from_agg_trades,
    candles_from_trades,
    fill_idle_minutes,
    format_decimals,
)
from include.platform.times import CANDLE_FIELDS

TIME_COLUMN = {"klines": "open_time", "trades": "time", "aggTrades": "time"}
# Spot dumps switched to microseconds in 2025; anything this large cannot be milliseconds.
MICROS_THRESHOLD = 10**15


def time_is_micros(frame: pl.DataFrame, kind: str, display: str) -> bool:
    """Whether the file's timestamps are µs (2025+ spot dumps) rather than ms; never mixed."""
    col = frame[TIME_COLUMN[kind]]
    low, high = col.min(), col.max()
    if low is None:
        return False
    if (low >= MICROS_THRESHOLD) != (high >= MICROS_THRESHOLD):
        raise DumpError(f"{display}: field {TIME_COLUMN[kind]}: mixes ms and µs timestamps")
    return low >= MICROS_THRESHOLD


def klines_to_candles(frame: pl.DataFrame, micros: bool, display: str) -> pl.DataFrame:
    """A klines dump frame to the candle frame (open times in ms)."""
    divisor = 1000 if micros else 1
    candles = frame.select((pl.col("open_time") // divisor).alias("open_time_ms"), *CANDLE_FIELDS)
    misaligned = candles.select((pl.col("open_time_ms") % 60_000 != 0).arg_true().first()).item()
    if misaligned is not None:
        raise DumpError(
            f"{display}: row {int(misaligned) + 1}, field open_time: not a whole minute"
        )
    return candles


def build_candles(
    frame: pl.DataFrame,
    kind: str,
    display: str,
    *,
    lead_from_ms: int | None = None,
    previous_close: str | None = None,
) -> pl.DataFrame:
    """Parsed dump rows of any kind to formatted 1m candles, idle minutes included."""
    micros = time_is_micros(frame, kind, display)
    if kind == "klines":
        candles = klines_to_candles(frame, micros, display)
    else:
        build = candles_from_trades if kind == "trades" else candles_from_agg_trades
        candles = build(frame, micros=micros)
        candles = fill_idle_minutes(
            candles, lead_from_ms=lead_from_ms, previous_close=previous_close
        )
    return format_decimals(candles)
