"""Exact 1-minute candles from trades and aggTrades with polars (decimals, never floats).

Prices and quantities are polars Decimal(38, 18): Binance strings carry 8 decimals, so every
sum and every price * qty (16 decimals) is exact, with 20 integer digits to spare.
"""

from __future__ import annotations

import logging

import polars as pl

from include.platform.times import CANDLE_FIELDS, MINUTE_MS

logger = logging.getLogger(__name__)

DECIMAL = pl.Decimal(38, 18)
ZERO = pl.lit(0).cast(DECIMAL)
DECIMAL_OUTPUTS = tuple(name for name in CANDLE_FIELDS if name != "trade_count")


def minute_ms(time_col: str, micros: bool) -> pl.Expr:
    """The open time, in epoch ms, of the minute a trade timestamp falls in."""
    per_minute = 60_000_000 if micros else MINUTE_MS
    return (pl.col(time_col) // per_minute * MINUTE_MS).alias("open_time_ms")


def in_id_order(rows: pl.DataFrame, id_column: str) -> pl.DataFrame:
    """The rows sorted by trade id, which is what open and close (first, last trade) follow.

    Binance does not promise sorted files, but nearly all are: one pass checks, and only an
    unsorted file pays for the sort (first/last on sorted rows beat arg_min/arg_max per minute).
    """
    return rows if rows[id_column].is_sorted() else rows.sort(id_column)


def _candle_aggs(trade_count: pl.Expr, quote: pl.Expr) -> list[pl.Expr]:
    # Rows are in trade-id order and group_by keeps row order within a group.
    taker = ~pl.col("is_buyer_maker")
    return [
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("qty").sum().alias("volume"),
        quote.sum().alias("quote_volume"),
        trade_count.alias("trade_count"),
        pl.when(taker).then(pl.col("qty")).otherwise(ZERO).sum().alias("taker_buy_volume"),
        pl.when(taker).then(quote).otherwise(ZERO).sum().alias("taker_buy_quote_volume"),
    ]


def candles_from_trades(trades: pl.DataFrame, *, micros: bool) -> pl.DataFrame:
    """Raw trades (id, price, qty, quote_qty, time, is_buyer_maker), in any order, to candles."""
    return (
        in_id_order(trades, "id")
        .lazy()
        .group_by(minute_ms("time", micros), maintain_order=True)
        .agg(_candle_aggs(pl.len().cast(pl.Int64), pl.col("quote_qty")))
        .sort("open_time_ms")
        .collect()
    )


def candles_from_agg_trades(agg_trades: pl.DataFrame, *, micros: bool) -> pl.DataFrame:
    """aggTrades (agg_id, price, qty, first_id, last_id, time, is_buyer_maker) to candles.

    One aggTrade stands for last_id - first_id + 1 raw trades at one price, so the counts and
    the quote volume (price * summed qty) equal those of the raw trades. Rows may come in any
    order: they are taken by first trade id, as the raw trades would be.
    """
    count = (pl.col("last_id") - pl.col("first_id") + 1).sum().cast(pl.Int64)
    quote = pl.col("price") * pl.col("qty")
    return (
        in_id_order(agg_trades, "first_id")
        .lazy()
        .group_by(minute_ms("time", micros), maintain_order=True)
        .agg(_candle_aggs(count, quote))
        .sort("open_time_ms")
        .collect()
    )


def fill_idle_minutes(
    candles: pl.DataFrame,
    *,
    lead_from_ms: int | None = None,
    previous_close: str | None = None,
) -> pl.DataFrame:
    """Add the klines Binance gives idle minutes: OHLC = previous close, zero volumes.

    Minutes between the first and last traded minute are filled from the frame itself.
    Minutes from lead_from_ms up to the first traded one are filled only when previous_close
    (the close before lead_from_ms) is given: without it the file cannot tell idle from halted.
    """
    if candles.height == 0:
        return candles
    first = candles["open_time_ms"].min()
    last = candles["open_time_ms"].max()
    start = lead_from_ms if lead_from_ms is not None and previous_close is not None else first
    minutes = pl.DataFrame(
        {"open_time_ms": pl.int_ranges(start, last + MINUTE_MS, MINUTE_MS, eager=True).explode()}
    ).with_columns(pl.col("open_time_ms").cast(pl.Int64))
    if minutes.height == candles.height:
        return candles
    seed = pl.lit(previous_close).cast(DECIMAL) if previous_close is not None else None
    carried = pl.col("close").forward_fill()
    if seed is not None:
        carried = carried.fill_null(seed)
    joined = minutes.join(candles, on="open_time_ms", how="left").with_columns(
        carried.alias("_carried")
    )
    idle = pl.col("trade_count").is_null()
    return joined.select(
        "open_time_ms",
        *(
            pl.when(idle).then(pl.col("_carried")).otherwise(pl.col(name)).alias(name)
            for name in ("open", "high", "low", "close")
        ),
        *(pl.col(n).fill_null(ZERO) for n in ("volume", "quote_volume")),
        pl.col("trade_count").fill_null(0),
        *(pl.col(n).fill_null(ZERO) for n in ("taker_buy_volume", "taker_buy_quote_volume")),
    )


def format_decimals(candles: pl.DataFrame) -> pl.DataFrame:
    """Decimal columns as exact strings with at least Binance's 8 decimals, no excess zeros."""
    return candles.with_columns(
        pl.col(name)
        .cast(DECIMAL)
        .cast(pl.Utf8)
        .str.replace(r"^(-?[0-9]+\.[0-9]{8}[0-9]*?)0*$", "${1}")
        .alias(name)
        for name in DECIMAL_OUTPUTS
    )
