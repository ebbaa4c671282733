"""Deterministic synthetic spot market: trades, aggTrades and klines from (seed, symbol, time).

Public API (all times are epoch µs for trades, epoch ms for klines, like Binance):

- ``Market(config, clock)``; ``symbols`` (names), ``spec(symbol)``, ``list_symbol(spec)``,
  ``set_status(symbol, status, trades_from_ms=None)`` (leaving TRADING halts the market from
  the next minute on, returning to TRADING resumes it from the next minute on, or from
  ``trades_from_ms``'s minute if later).
- ``trades(symbol, start_us, end_us)`` -> list[Trade] for ``start_us <= time < end_us``;
  ``trades_from_id(symbol, from_id, limit, upto_us=None)``; ``last_trade_before(symbol, us)``.
- ``agg_trades(symbol, start_us, end_us)``, ``agg_trades_from_id(symbol, from_id, limit, ...)``.
- ``trade_arrays`` / ``agg_arrays``: the same as numpy columns, values as int in 1e-8 units.
- ``klines(symbol, interval, start_ms=None, end_ms=None, limit=500)`` -> list[Kline], the
  current unfinished kline included; ``minute_klines_day(symbol, day)`` for dumps;
  ``klines_1m_json(symbol, start_ms, end_ms, limit)``, the 1m REST page as JSON bytes, from
  per symbol-day caches of encoded rows.

How it is generated: per (symbol, UTC day) a hash gives the number of taker orders and raw
trades; a day RNG spreads them over the 1440 minutes; per (symbol, 15 minutes) an RNG draws the
orders' times, sides, prices (around a smooth deterministic price path) and trade quantities.
Listing and halts only remove minutes after drawing, so changing them never reshuffles other
minutes. Trade ids and aggTrade ids are contiguous per symbol from 0 at listing.

The modules, each built on the one before: ``units`` and ``intervals`` (time, money, the
kline grid); ``records`` (Trade, AggTrade, Kline and their columns); ``symbol_state`` (a
symbol's listing, halts, day totals and price path); ``blocks`` (trade generation per
15-minute block); ``trades`` (trade queries); ``klines`` (1m day columns and every
interval); ``listing`` (Market: the symbol table and status changes).
"""

from fakebinance.market.blocks import BLOCK_CACHE_TRADES, BLOCK_MIN, BLOCK_US, BLOCKS_PER_DAY
from fakebinance.market.intervals import INTERVAL_MINUTES, INTERVALS, WEEK_OFFSET_MIN, bucket_of
from fakebinance.market.klines import DAY_CACHE_ENTRIES, DAY_ROWS_ENTRIES, FEW_MINUTES
from fakebinance.market.listing import Market
from fakebinance.market.records import (
    AggArrays,
    AggTrade,
    Kline,
    MinuteStats,
    Trade,
    TradeArrays,
    aggs_from_arrays,
    trades_from_arrays,
)
from fakebinance.market.symbol_state import TRADES_PER_ORDER
from fakebinance.market.units import DAY_MIN, HOUR_US, MINUTE_US, UNITS, dec8, fmt8

# Every public name of the former fakebinance/market.py, so its importers keep working.
__all__ = [
    "BLOCKS_PER_DAY",
    "BLOCK_CACHE_TRADES",
    "BLOCK_MIN",
    "BLOCK_US",
    "DAY_CACHE_ENTRIES",
    "DAY_MIN",
    "DAY_ROWS_ENTRIES",
    "FEW_MINUTES",
    "HOUR_US",
    "INTERVALS",
    "INTERVAL_MINUTES",
    "MINUTE_US",
    "TRADES_PER_ORDER",
    "UNITS",
    "WEEK_OFFSET_MIN",
    "AggArrays",
    "AggTrade",
    "Kline",
    "Market",
    "MinuteStats",
    "Trade",
    "TradeArrays",
    "aggs_from_arrays",
    "bucket_of",
    "dec8",
    "fmt8",
    "trades_from_arrays",
]
