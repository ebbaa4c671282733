"""Deterministic synthetic spot market: trades, aggTrades and klines from (seed, symbol, time).

Public API (all times are epoch µs for trades, epoch ms for klines, like Binance):

- ``Market(config, clock)``; ``symbols`` (names), ``spec(symbol)``, ``list_symbol(spec)``,
  ``set_status(symbol, status)`` (leaving TRADING halts the market from the next minute on,
  returning to TRADING resumes it from the next minute on).
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
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

import numpy as np
import orjson

from fakebinance.clock import MarketClock, to_us
from fakebinance.config import MarketConfig, SymbolSpec

logger = logging.getLogger(__name__)

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
# Trades are generated and cached in blocks of 15 minutes per symbol.
BLOCK_MIN = 15
BLOCK_US = BLOCK_MIN * MINUTE_US
BLOCKS_PER_DAY = 1440 // BLOCK_MIN
DAY_MIN = 1440
UNITS = 10**8
# Binance's kline intervals; the values are minutes for fixed-length ones.
INTERVAL_MINUTES = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
    "3d": 4320,
    "1w": 10080,
}
INTERVALS = (*INTERVAL_MINUTES, "1M")
# 1970-01-01 was a Thursday: weekly klines start on Monday 1970-01-05.
WEEK_OFFSET_MIN = 4 * DAY_MIN
TRADES_PER_ORDER = 1.3
BLOCK_CACHE_TRADES = 6_000_000
DAY_CACHE_ENTRIES = 1024
# A 1m klines request for at most this many minutes of a day not yet computed builds them from
# their own blocks (about one block each) instead of computing the whole day.
FEW_MINUTES = 60
# Encoded 1m REST rows per symbol-day (~300 KB each), so a history page costs a slice and a join.
DAY_ROWS_ENTRIES = 512
_U64 = np.uint64


def fmt8(units: int) -> str:
    """Int in 1e-8 units -> Binance decimal string with 8 decimals."""
    if units < 0:
        return "-" + fmt8(-units)
    return f"{units // UNITS}.{units % UNITS:08d}"


def dec8(units: int) -> Decimal:
    """Int in 1e-8 units -> Decimal with exponent -8."""
    return Decimal(int(units)).scaleb(-8)


@dataclass(frozen=True, slots=True)
class Trade:
    """One raw trade, as /api/v3/historicalTrades describes it."""

    id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    time_us: int
    is_buyer_maker: bool
    is_best_match: bool = True

    @property
    def time_ms(self) -> int:
        """Trade time in ms, as REST and WebSocket report it."""
        return self.time_us // 1000


@dataclass(frozen=True, slots=True)
class AggTrade:
    """One aggregate trade: raw trades ``first_id..last_id`` of one taker order at one price."""

    agg_id: int
    price: Decimal
    qty: Decimal
    first_id: int
    last_id: int
    time_us: int
    is_buyer_maker: bool
    is_best_match: bool = True

    @property
    def time_ms(self) -> int:
        """Trade time in ms."""
        return self.time_us // 1000


@dataclass(frozen=True, slots=True)
class Kline:
    """One kline, fields as Binance names them; times in ms."""

    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: int
    quote_volume: Decimal
    trade_count: int
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal

    def to_rest_row(self) -> list:
        """The row exactly as /api/v3/klines returns it."""
        return [
            self.open_time,
            f"{self.open:.8f}",
            f"{self.high:.8f}",
            f"{self.low:.8f}",
            f"{self.close:.8f}",
            f"{self.volume:.8f}",
            self.close_time,
            f"{self.quote_volume:.8f}",
            self.trade_count,
            f"{self.taker_buy_volume:.8f}",
            f"{self.taker_buy_quote_volume:.8f}",
            "0",
        ]


class TradeArrays(NamedTuple):
    """Raw trades as columns; price/qty/quote in 1e-8 units."""

    ids: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    quote: np.ndarray
    time_us: np.ndarray
    buyer_maker: np.ndarray


class AggArrays(NamedTuple):
    """Aggregate trades as columns; price/qty in 1e-8 units."""

    ids: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    first_id: np.ndarray
    last_id: np.ndarray
    time_us: np.ndarray
    buyer_maker: np.ndarray


class MinuteStats(NamedTuple):
    """Per-minute kline columns of one UTC day (1440 entries); money in 1e-8 units."""

    has: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote: np.ndarray
    count: np.ndarray
    taker_volume: np.ndarray
    taker_quote: np.ndarray


class _Block(NamedTuple):
    """One symbol-block: trades (ticks/lots) plus the orders that form aggTrades."""

    trade_base: int
    agg_base: int
    t_us: np.ndarray
    ticks: np.ndarray
    lots: np.ndarray
    quote: np.ndarray
    maker: np.ndarray
    order_t: np.ndarray
    order_ticks: np.ndarray
    order_lots: np.ndarray
    order_first: np.ndarray
    order_size: np.ndarray
    order_maker: np.ndarray


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 over a uint64 array: a cheap, order-free hash per element."""
    with np.errstate(over="ignore"):
        z = x + _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def _unit(h: np.ndarray) -> np.ndarray:
    """uint64 hash -> float in (0, 1]."""
    return ((h >> _U64(11)).astype(np.float64) + 1.0) / float(1 << 53)


# The end of a halt that has not ended (a symbol not trading until further notice).
_OPEN_END = datetime(9999, 1, 1, tzinfo=UTC)


class _Sym:
    """Mutable per-symbol state and caches (guarded by the Market lock)."""

    def __init__(self, seed: int, spec: SymbolSpec) -> None:
        self.spec = spec
        digest = hashlib.blake2b(f"{seed}|{spec.symbol}".encode(), digest_size=8).digest()
        self.key = int.from_bytes(digest, "little")
        self.ticks_to_units = 10 ** (8 - spec.price_decimals)
        self.lots_to_units = 10 ** (8 - spec.qty_decimals)
        self.quote_mult = 10 ** (8 - spec.price_decimals - spec.qty_decimals)
        self.base_ticks = float(spec.base_price.scaleb(spec.price_decimals))
        self.orders_per_min = spec.trades_per_minute / TRADES_PER_ORDER
        # Lognormal notional per trade, in quote units; median ~150 USDT.
        self.qty_scale = 10 ** (spec.price_decimals + spec.qty_decimals)
        rng = np.random.default_rng([self.key, 7])
        periods = np.array([3.7, 17.0, 61.0, 240.0, 1872.0, 12960.0, 67680.0, 525600.0])
        self.periods = periods
        self.amps = np.minimum(0.0006 * np.sqrt(periods), 0.12)
        self.phases = rng.uniform(0, 2 * math.pi, len(periods))
        # Halts from status changes at runtime, in minutes (end None while it lasts). They are
        # folded into spec.halts too, so whoever reads the spec (the oracle) sees them.
        self.base_halts = spec.halts
        self.extra_halts: list[tuple[int, int | None]] = []
        self.reset()

    def fold_extra_halts(self) -> None:
        """spec.halts = the configured halts and the runtime ones, as datetimes."""

        def at(minute: int | None) -> datetime:
            return _OPEN_END if minute is None else datetime.fromtimestamp(minute * 60, UTC)

        extra = tuple((at(a), at(b)) for a, b in self.extra_halts)
        self.spec = replace(self.spec, halts=(*self.base_halts, *extra))

    def reset(self) -> None:
        """Recompute time bounds and drop every cache (after a listing/halt change)."""
        spec = self.spec
        self.listing_min = -(-to_us(spec.listed_at) // MINUTE_US)
        self.day0 = self.listing_min // DAY_MIN
        halts = [(to_us(a) // MINUTE_US, -(-to_us(b) // MINUTE_US)) for a, b in spec.halts]
        self.halts = sorted(h for h in halts if h[1] > h[0])
        self.counts: OrderedDict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self.cum_n = np.zeros(1, dtype=np.int64)
        self.cum_o = np.zeros(1, dtype=np.int64)
        self.day_stats: OrderedDict[int, MinuteStats] = OrderedDict()

    def trading_minute(self, minute: int) -> bool:
        """True when the minute is after listing and outside every halt."""
        if minute < self.listing_min:
            return False
        return not any(a <= minute < b for a, b in self.halts)

    def day_mask(self, day: int) -> np.ndarray:
        """Boolean per minute of ``day``: may this minute trade?"""
        first = day * DAY_MIN
        minutes = np.arange(first, first + DAY_MIN, dtype=np.int64)
        mask = minutes >= self.listing_min
        for a, b in self.halts:
            if a < first + DAY_MIN and b > first:
                mask &= ~((minutes >= a) & (minutes < b))
        return mask

    def day_is_masked(self, day: int) -> bool:
        """Does any minute of the day not trade?"""
        first = day * DAY_MIN
        if first < self.listing_min:
            return True
        return any(a < first + DAY_MIN and b > first for a, b in self.halts)

    def day_totals(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unmasked (orders, trades) per day, from a hash: O(1) per day, vectorised."""
        h1 = _mix(_U64(self.key) ^ (days.astype(np.uint64) * _U64(0xD1B54A32D192ED03)))
        h2 = _mix(h1)
        h3 = _mix(h2)
        h4 = _mix(h3)
        u1, u2, u3, u4 = _unit(h1), _unit(h2), _unit(h3), _unit(h4)
        radius = np.sqrt(-2.0 * np.log(u1))
        z_activity = radius * np.cos(2 * math.pi * u2)
        z_count = radius * np.sin(2 * math.pi * u2)
        activity = 1.0 if self.spec.steady else np.exp(0.25 * z_activity - 0.03125)
        lam = self.orders_per_min * DAY_MIN * activity
        orders = np.maximum(0, np.rint(lam + np.sqrt(lam) * z_count)).astype(np.int64)
        ratio = TRADES_PER_ORDER - 1.0 if self.spec.steady else 0.15 + 0.3 * u3
        # u4 only decorrelates the rounding of extras between days.
        extras = np.floor(orders * ratio + u4).astype(np.int64)
        return orders, orders + extras

    def mid_ticks(self, t_us: np.ndarray) -> np.ndarray:
        """Smooth deterministic price path (in ticks) at the given times."""
        t_min = t_us.astype(np.float64) / MINUTE_US
        angle = np.outer(t_min, 2 * math.pi / self.periods) + self.phases
        return self.base_ticks * np.exp(np.sin(angle) @ self.amps)


class Market:
    """The synthetic market; see the module docstring for the API."""

    def __init__(self, config: MarketConfig, clock: MarketClock | None = None) -> None:
        self.config = config
        self.clock = clock or MarketClock()
        self._lock = threading.RLock()
        self._syms: dict[str, _Sym] = {s.symbol: _Sym(config.seed, s) for s in config.symbols}
        self._blocks: OrderedDict[tuple[str, int], _Block] = OrderedDict()
        self._block_trades = 0
        # Room for every symbol's current and next block: a busy market (ALL at a high rate)
        # must not evict the blocks its feed reads on every tick.
        per_block = BLOCK_MIN * sum(s.trades_per_minute for s in config.symbols)
        self.block_cache_trades = max(BLOCK_CACHE_TRADES, int(2.2 * per_block))
        self.day_rows_entries = DAY_ROWS_ENTRIES
        # (symbol, day) -> (minute-of-day of each kline, its /api/v3/klines row as JSON).
        self._day_rows: OrderedDict[tuple[str, int], tuple[np.ndarray, list[bytes]]] = OrderedDict()

    # ----------------------------------------------------------------- symbols
    @property
    def symbols(self) -> list[str]:
        """Symbol names, in listing order."""
        return list(self._syms)

    def specs(self) -> list[SymbolSpec]:
        """Current specs (status reflects runtime changes)."""
        return [s.spec for s in self._syms.values()]

    def spec(self, symbol: str) -> SymbolSpec:
        """Spec of one symbol; KeyError if unknown."""
        return self._syms[symbol].spec

    def has_symbol(self, symbol: str) -> bool:
        """Is the symbol known (listed now or in the future)?"""
        return symbol in self._syms

    def is_listed(self, symbol: str, at_us: int | None = None) -> bool:
        """Known and already listed at ``at_us`` (default: now)."""
        st = self._syms.get(symbol)
        if st is None:
            return False
        now = self.clock.now_us() if at_us is None else at_us
        return to_us(st.spec.listed_at) <= now

    def list_symbol(self, spec: SymbolSpec) -> None:
        """Add a symbol at runtime (it trades from ``spec.listed_at``)."""
        with self._lock:
            if spec.symbol in self._syms:
                raise ValueError(f"{spec.symbol} already listed")
            self._syms[spec.symbol] = _Sym(self.config.seed, spec)

    def set_status(self, symbol: str, status: str) -> None:
        """Change the status; leaving TRADING stops trades from the next minute on."""
        with self._lock:
            st = self._syms[symbol]
            old = st.spec.status
            st.spec = replace(st.spec, status=status)
            if (old == "TRADING") == (status == "TRADING"):
                return
            next_min = -(-self.clock.now_us() // MINUTE_US)
            if status != "TRADING":
                st.extra_halts.append((next_min, None))
            elif st.extra_halts and st.extra_halts[-1][1] is None:
                start = st.extra_halts[-1][0]
                st.extra_halts[-1] = (start, max(start, next_min))
            st.fold_extra_halts()
            st.reset()
            for key in [k for k in self._blocks if k[0] == symbol]:
                self._block_trades -= len(self._blocks.pop(key).t_us)
            for key in [k for k in self._day_rows if k[0] == symbol]:
                del self._day_rows[key]

    def trading_minute(self, symbol: str, minute_open_ms: int) -> bool:
        """Does ``symbol`` trade (listed, not halted) in the minute starting at this ms?"""
        return self._syms[symbol].trading_minute(minute_open_ms // 60_000)

    # ----------------------------------------------------------------- counts and ids
    def _day_counts(self, st: _Sym, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(orders, trades) per minute of the day before masking, and the trading mask."""
        with self._lock:
            hit = st.counts.get(day)
            if hit is not None:
                st.counts.move_to_end(day)
                return hit
        orders_total, trades_total = st.day_totals(np.array([day], dtype=np.int64))
        n_orders, n_trades = int(orders_total[0]), int(trades_total[0])
        rng = np.random.default_rng([st.key, day, 1])
        minute = np.arange(DAY_MIN)
        profile = 1.0 + st.spec.daily_swing * np.cos(2 * math.pi * (minute - 14 * 60) / DAY_MIN)
        jitter = rng.gamma(2.0, 0.5, DAY_MIN)  # drawn even when steady: same draws after it
        weights = profile if st.spec.steady else profile * jitter
        orders = rng.multinomial(n_orders, weights / weights.sum()).astype(np.int64)
        if n_orders:
            extras = rng.multinomial(n_trades - n_orders, orders / n_orders).astype(np.int64)
        else:
            extras = np.zeros(DAY_MIN, dtype=np.int64)
        entry = (orders, orders + extras, st.day_mask(day))
        with self._lock:
            st.counts[day] = entry
            if len(st.counts) > 4096:
                st.counts.popitem(last=False)
        return entry

    def _ensure_prefix(self, st: _Sym, day: int) -> None:
        """Extend the per-day cumulative (trades, orders) arrays to cover ``day``."""
        have = len(st.cum_n) - 1
        need = day - st.day0 + 1
        if need <= have:
            return
        need = max(need, have + 64)
        days = np.arange(st.day0 + have, st.day0 + need, dtype=np.int64)
        orders, trades = st.day_totals(days)
        for i, d in enumerate(days.tolist()):
            if st.day_is_masked(d):
                o, n, mask = self._day_counts(st, d)
                orders[i] = int(o[mask].sum())
                trades[i] = int(n[mask].sum())
        with self._lock:
            if len(st.cum_n) - 1 != have:
                return
            st.cum_n = np.concatenate([st.cum_n, st.cum_n[-1] + np.cumsum(trades)])
            st.cum_o = np.concatenate([st.cum_o, st.cum_o[-1] + np.cumsum(orders)])

    def _day_base(self, st: _Sym, day: int) -> tuple[int, int]:
        """(first trade id, first agg id) of ``day``."""
        if day < st.day0:
            return 0, 0
        self._ensure_prefix(st, day)
        i = day - st.day0
        return int(st.cum_n[i]), int(st.cum_o[i])

    # ----------------------------------------------------------------- blocks
    def _block(self, st: _Sym, block: int, keep: bool = True) -> _Block:
        """Trades of one symbol-block (generated once, then LRU-cached)."""
        key = (st.spec.symbol, block)
        with self._lock:
            hit = self._blocks.get(key)
            if hit is not None:
                self._blocks.move_to_end(key)
                return hit
        generated = self._generate_block(st, block)
        if keep:
            with self._lock:
                if key not in self._blocks:
                    self._blocks[key] = generated
                    self._block_trades += len(generated.t_us)
                while self._block_trades > self.block_cache_trades and len(self._blocks) > 1:
                    _, old = self._blocks.popitem(last=False)
                    self._block_trades -= len(old.t_us)
        return generated

    def _generate_block(self, st: _Sym, block: int) -> _Block:
        day, index = divmod(block, BLOCKS_PER_DAY)
        o_day, n_day, mask_day = self._day_counts(st, day)
        lo, hi = index * BLOCK_MIN, (index + 1) * BLOCK_MIN
        o, n, mask = o_day[lo:hi], n_day[lo:hi], mask_day[lo:hi]
        day_trade_base, day_agg_base = self._day_base(st, day)
        trade_base = day_trade_base + int(n_day[:lo][mask_day[:lo]].sum())
        agg_base = day_agg_base + int(o_day[:lo][mask_day[:lo]].sum())
        rng = np.random.default_rng([st.key, block, 3])
        n_orders, n_trades = int(o.sum()), int(n.sum())
        block_start = block * BLOCK_US
        order_minute = np.repeat(np.arange(BLOCK_MIN, dtype=np.int64), o)
        order_t = block_start + order_minute * MINUTE_US + rng.integers(0, MINUTE_US, n_orders)
        order_t.sort()
        # Each extra trade joins a random order of its own minute, so orders stay in-minute.
        extras = n - o
        first_order = np.cumsum(o) - o
        pick = np.repeat(first_order, extras) + (
            rng.random(int(extras.sum())) * np.repeat(o, extras)
        ).astype(np.int64)
        size = 1 + np.bincount(pick, minlength=n_orders).astype(np.int64)
        maker = rng.random(n_orders) < 0.5
        side = np.where(maker, -1.0, 1.0)
        drift = rng.normal(0.0, 1.5e-4, n_orders) + side * 1e-4
        order_ticks = np.maximum(1, np.rint(st.mid_ticks(order_t) * (1.0 + drift))).astype(np.int64)
        t_us = np.repeat(order_t, size)
        ticks = np.repeat(order_ticks, size)
        notional = np.exp(rng.normal(math.log(150.0), 1.3, n_trades))
        lots = np.clip(np.rint(notional * st.qty_scale / ticks), 1, 10**12).astype(np.int64)
        # Listing and halts drop whole minutes after drawing, so other minutes keep their draws.
        if not mask.all():
            keep_order = np.repeat(mask, o)
            keep_trade = np.repeat(keep_order, size)
            order_t, order_ticks, size, maker = (
                order_t[keep_order],
                order_ticks[keep_order],
                size[keep_order],
                maker[keep_order],
            )
            t_us, ticks, lots = t_us[keep_trade], ticks[keep_trade], lots[keep_trade]
        order_first = np.cumsum(size) - size
        trade_maker = np.repeat(maker, size)
        if len(lots):
            order_lots = np.add.reduceat(lots, order_first)
        else:
            order_lots = np.zeros(0, dtype=np.int64)
        return _Block(
            trade_base,
            agg_base,
            t_us,
            ticks,
            lots,
            ticks * lots * st.quote_mult,
            trade_maker,
            order_t,
            order_ticks,
            order_lots,
            order_first,
            size,
            maker,
        )

    def warm(self, at_us: int | None = None) -> int:
        """Generate every symbol's block holding ``at_us`` (default now); returns their trades.

        A busy market takes seconds to draw a block of every symbol: done before serving, the
        feed does not stall on its first tick.
        """
        at = self.clock.now_us() if at_us is None else at_us
        block = at // BLOCK_US
        return sum(len(self._block(st, block).t_us) for st in list(self._syms.values()))

    def _blocks_in(self, start_us: int, end_us: int) -> range:
        return range(start_us // BLOCK_US, (end_us - 1) // BLOCK_US + 1)

    def _sym(self, symbol: str) -> _Sym:
        return self._syms[symbol]

    # ----------------------------------------------------------------- trades
    def trade_arrays(
        self, symbol: str, start_us: int, end_us: int, keep: bool = True
    ) -> TradeArrays:
        """Raw trades with ``start_us <= time < end_us`` as columns."""
        st = self._sym(symbol)
        parts = []
        if end_us > start_us:
            for block in self._blocks_in(start_us, end_us):
                b = self._block(st, block, keep)
                i = int(np.searchsorted(b.t_us, start_us, "left"))
                j = int(np.searchsorted(b.t_us, end_us, "left"))
                if j > i:
                    parts.append(self._trade_slice(st, b, i, j))
        return _concat(parts, TradeArrays)

    def _trade_slice(self, st: _Sym, b: _Block, i: int, j: int) -> TradeArrays:
        return TradeArrays(
            np.arange(b.trade_base + i, b.trade_base + j, dtype=np.int64),
            b.ticks[i:j] * st.ticks_to_units,
            b.lots[i:j] * st.lots_to_units,
            b.quote[i:j],
            b.t_us[i:j],
            b.maker[i:j],
        )

    def agg_arrays(self, symbol: str, start_us: int, end_us: int, keep: bool = True) -> AggArrays:
        """Aggregate trades with ``start_us <= time < end_us`` as columns."""
        st = self._sym(symbol)
        parts = []
        if end_us > start_us:
            for block in self._blocks_in(start_us, end_us):
                b = self._block(st, block, keep)
                i = int(np.searchsorted(b.order_t, start_us, "left"))
                j = int(np.searchsorted(b.order_t, end_us, "left"))
                if j > i:
                    parts.append(self._agg_slice(st, b, i, j))
        return _concat(parts, AggArrays)

    def _agg_slice(self, st: _Sym, b: _Block, i: int, j: int) -> AggArrays:
        first = b.trade_base + b.order_first[i:j]
        return AggArrays(
            np.arange(b.agg_base + i, b.agg_base + j, dtype=np.int64),
            b.order_ticks[i:j] * st.ticks_to_units,
            b.order_lots[i:j] * st.lots_to_units,
            first,
            first + b.order_size[i:j] - 1,
            b.order_t[i:j],
            b.order_maker[i:j],
        )

    def trades(self, symbol: str, start_us: int, end_us: int) -> list[Trade]:
        """Raw trades with ``start_us <= time < end_us``, in id order."""
        return trades_from_arrays(self.trade_arrays(symbol, start_us, end_us))

    def agg_trades(self, symbol: str, start_us: int, end_us: int) -> list[AggTrade]:
        """Aggregate trades with ``start_us <= time < end_us``, in id order."""
        return aggs_from_arrays(self.agg_arrays(symbol, start_us, end_us))

    def _block_of_id(self, st: _Sym, ident: int, upto_us: int, aggs: bool) -> int | None:
        """Block holding trade (or agg) id ``ident``; None if no such id exists by ``upto_us``."""
        last_day = upto_us // (DAY_MIN * MINUTE_US)
        if last_day < st.day0:
            return None
        self._ensure_prefix(st, last_day + 1)
        cum = st.cum_o if aggs else st.cum_n
        idx = int(np.searchsorted(cum, ident, "right")) - 1
        if idx >= len(cum) - 1:
            return None
        day = st.day0 + max(idx, 0)
        o, n, mask = self._day_counts(st, day)
        per_block = np.where(mask, o if aggs else n, 0).reshape(BLOCKS_PER_DAY, BLOCK_MIN)
        offset = ident - int(cum[max(idx, 0)])
        index = int(np.searchsorted(np.cumsum(per_block.sum(axis=1)), offset, "right"))
        return day * BLOCKS_PER_DAY + min(index, BLOCKS_PER_DAY - 1)

    def trades_from_id(
        self, symbol: str, from_id: int, limit: int, upto_us: int | None = None
    ) -> TradeArrays:
        """Up to ``limit`` raw trades with id >= ``from_id`` and time <= ``upto_us`` (now)."""
        return self._from_id(symbol, from_id, limit, upto_us, aggs=False)

    def agg_trades_from_id(
        self, symbol: str, from_id: int, limit: int, upto_us: int | None = None
    ) -> AggArrays:
        """Up to ``limit`` aggTrades with id >= ``from_id`` and time <= ``upto_us`` (now)."""
        return self._from_id(symbol, from_id, limit, upto_us, aggs=True)

    def _from_id(self, symbol: str, from_id: int, limit: int, upto_us: int | None, aggs: bool):
        st = self._sym(symbol)
        upto = self.clock.now_us() if upto_us is None else upto_us
        kind = AggArrays if aggs else TradeArrays
        block = self._block_of_id(st, max(0, from_id), upto, aggs)
        parts: list = []
        got = 0
        while block is not None and got < limit and block * BLOCK_US <= upto:
            b = self._block(st, block)
            base = b.agg_base if aggs else b.trade_base
            times = b.order_t if aggs else b.t_us
            i = max(0, from_id - base)
            j = min(len(times), int(np.searchsorted(times, upto, "right")), i + limit - got)
            if j > i:
                part = self._agg_slice(st, b, i, j) if aggs else self._trade_slice(st, b, i, j)
                parts.append(part)
                got += j - i
            block += 1
        return _concat(parts, kind)

    def last_trade_before(self, symbol: str, before_us: int) -> Trade | None:
        """The last raw trade with time < ``before_us`` (searching back to the listing)."""
        st = self._sym(symbol)
        got = self._last_before(st, before_us)
        if got is None:
            return None
        b, idx = got
        return trades_from_arrays(self._trade_slice(st, b, idx, idx + 1))[0]

    def next_trade_time(self, symbol: str, after_us: int, horizon_hours: int = 6) -> int | None:
        """Time of the first trade later than ``after_us`` (None if none within the horizon)."""
        st = self._sym(symbol)
        first = after_us // BLOCK_US
        for block in range(first, first + horizon_hours * 60 // BLOCK_MIN):
            b = self._block(st, block)
            i = int(np.searchsorted(b.t_us, after_us, "right"))
            if i < len(b.t_us):
                return int(b.t_us[i])
        return None

    def last_agg_id_before(self, symbol: str, before_us: int) -> int | None:
        """Id of the last aggTrade with time < ``before_us``; None if there is none."""
        st = self._sym(symbol)
        got = self._last_before(st, before_us)
        if got is None:
            return None
        b, idx = got
        return b.agg_base + int(np.searchsorted(b.order_first, idx, "right")) - 1

    def _last_before(self, st: _Sym, before_us: int) -> tuple[_Block, int] | None:
        # The block holding before_us first, then whole blocks backwards by counts.
        block = (before_us - 1) // BLOCK_US
        b = self._block(st, block)
        i = int(np.searchsorted(b.t_us, before_us, "left"))
        if i > 0:
            return b, i - 1
        block -= 1
        while block >= st.listing_min // BLOCK_MIN:
            day = block // BLOCKS_PER_DAY
            _, n, mask = self._day_counts(st, day)
            per_block = np.where(mask, n, 0).reshape(BLOCKS_PER_DAY, BLOCK_MIN).sum(axis=1)
            nz = np.nonzero(per_block[: block % BLOCKS_PER_DAY + 1])[0]
            if len(nz):
                b = self._block(st, day * BLOCKS_PER_DAY + int(nz[-1]), keep=False)
                return b, len(b.t_us) - 1
            block = day * BLOCKS_PER_DAY - 1
        return None

    # ----------------------------------------------------------------- klines
    def minute_klines_day(self, symbol: str, day: int) -> MinuteStats:
        """1m kline columns for UTC day number ``day`` (ignores the clock; cached)."""
        st = self._sym(symbol)
        with self._lock:
            hit = st.day_stats.get(day)
            if hit is not None:
                st.day_stats.move_to_end(day)
                return hit
        stats = self._compute_day(st, day)
        with self._lock:
            st.day_stats[day] = stats
            if len(st.day_stats) > DAY_CACHE_ENTRIES:
                st.day_stats.popitem(last=False)
        return stats

    def minute_columns(
        self, symbol: str, first_min: int, end_min: int, keep: bool = False
    ) -> dict[str, np.ndarray]:
        """Per-minute trade statistics of minutes [first_min, end_min), ignoring the clock:
        MinuteStats' columns but ``has``, in 1e-8 units, zero (and no price) where nothing
        traded. Built from the minutes' own blocks (``keep`` caches them)."""
        return self._minute_columns(self._sym(symbol), first_min, end_min, keep)

    def _minute_columns(
        self, st: _Sym, first_min: int, end_min: int, keep: bool = False
    ) -> dict[str, np.ndarray]:
        size = end_min - first_min
        cols = {name: np.zeros(size, dtype=np.int64) for name in MinuteStats._fields[1:]}
        for block in range(first_min // BLOCK_MIN, -(-end_min // BLOCK_MIN)):
            day, k = divmod(block, BLOCKS_PER_DAY)
            _, n, mask = self._day_counts(st, day)
            hc = np.where(mask, n, 0)[k * BLOCK_MIN : (k + 1) * BLOCK_MIN]
            b_first = block * BLOCK_MIN
            lo, hi = max(first_min, b_first) - b_first, min(end_min, b_first + BLOCK_MIN) - b_first
            if not hc[lo:hi].any():
                continue
            b = self._block(st, block, keep=keep)
            minutes = lo + np.nonzero(hc[lo:hi])[0]
            starts = (np.cumsum(hc) - hc)[minutes]
            ends = starts + hc[minutes] - 1
            idx = b_first + minutes - first_min
            # Only the range's trades: reduceat runs the last minute to the end of its array.
            a, z = int(starts[0]), int(ends[-1]) + 1
            at = starts - a
            ticks, lots, quote, buy = b.ticks[a:z], b.lots[a:z], b.quote[a:z], ~b.maker[a:z]
            cols["open"][idx] = b.ticks[starts]
            cols["close"][idx] = b.ticks[ends]
            cols["high"][idx] = np.maximum.reduceat(ticks, at)
            cols["low"][idx] = np.minimum.reduceat(ticks, at)
            cols["volume"][idx] = np.add.reduceat(lots, at)
            cols["quote"][idx] = np.add.reduceat(quote, at)
            cols["count"][idx] = hc[minutes]
            cols["taker_volume"][idx] = np.add.reduceat(np.where(buy, lots, 0), at)
            cols["taker_quote"][idx] = np.add.reduceat(np.where(buy, quote, 0), at)
        for name in ("open", "close", "high", "low"):
            cols[name] *= st.ticks_to_units
        for name in ("volume", "taker_volume"):
            cols[name] *= st.lots_to_units
        return cols

    def _compute_day(self, st: _Sym, day: int) -> MinuteStats:
        _, n, mask = self._day_counts(st, day)
        counts = np.where(mask, n, 0)
        cols = self._minute_columns(st, day * DAY_MIN, (day + 1) * DAY_MIN)
        # Idle trading minutes repeat the previous close, found by searching back.
        traded = counts > 0
        last = np.maximum.accumulate(np.where(traded, np.arange(DAY_MIN), -1))
        prev = self._last_before(st, day * DAY_MIN * MINUTE_US)
        prev_close = -1 if prev is None else int(prev[0].ticks[prev[1]]) * st.ticks_to_units
        carried = np.where(last >= 0, cols["close"][np.maximum(last, 0)], prev_close)
        idle = mask & ~traded & (carried >= 0)
        for name in ("open", "close", "high", "low"):
            cols[name] = np.where(idle, carried, cols[name])
        return MinuteStats(mask & (traded | (carried >= 0)), **cols)

    def _partial_minute(self, st: _Sym, minute: int, now_us: int) -> tuple | None:
        """Kline tuple of the unfinished minute holding ``now_us`` (trades up to now)."""
        if not st.trading_minute(minute):
            return None
        arr = self.trade_arrays(st.spec.symbol, minute * MINUTE_US, now_us + 1)
        if len(arr.ids) == 0:
            prev = self._last_before(st, minute * MINUTE_US)
            if prev is None:
                return None
            c = int(prev[0].ticks[prev[1]]) * st.ticks_to_units
            return (c, c, c, c, 0, 0, 0, 0, 0)
        buy = ~arr.buyer_maker
        return (
            int(arr.price[0]),
            int(arr.price.max()),
            int(arr.price.min()),
            int(arr.price[-1]),
            int(arr.qty.sum()),
            int(arr.quote.sum()),
            len(arr.ids),
            int(arr.qty[buy].sum()),
            int(arr.quote[buy].sum()),
        )

    def _bucket(self, st: _Sym, first_min: int, end_min: int, now_us: int) -> Kline | None:
        """Kline over minutes [first_min, end_min) as seen at ``now_us``; None if empty."""
        now_min = now_us // MINUTE_US
        last_full = min(end_min, now_min)
        acc: list | None = None
        minute = first_min
        while minute < last_full:
            day = minute // DAY_MIN
            s = self.minute_klines_day(st.spec.symbol, day)
            lo = minute - day * DAY_MIN
            hi = min(last_full - day * DAY_MIN, DAY_MIN)
            has = np.nonzero(s.has[lo:hi])[0]
            if len(has):
                a, z = lo + int(has[0]), lo + int(has[-1])
                sl = slice(lo, hi)
                h = s.has[sl]
                part = [
                    int(s.open[a]),
                    int(s.high[sl][h].max()),
                    int(s.low[sl][h].min()),
                    int(s.close[z]),
                    *(
                        _exact_sum(col[sl])
                        for col in (s.volume, s.quote, s.count, s.taker_volume, s.taker_quote)
                    ),
                ]
                acc = part if acc is None else _merge(acc, part)
            minute = day * DAY_MIN + hi
        if first_min <= now_min < end_min:
            part = self._partial_minute(st, now_min, now_us)
            if part is not None:
                acc = list(part) if acc is None else _merge(acc, list(part))
        if acc is None:
            return None
        o, h, lo_, c, v, q, cnt, tv, tq = acc
        return Kline(
            first_min * 60_000,
            dec8(o),
            dec8(h),
            dec8(lo_),
            dec8(c),
            dec8(v),
            end_min * 60_000 - 1,
            dec8(q),
            cnt,
            dec8(tv),
            dec8(tq),
        )

    def klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """Binance /api/v3/klines semantics, including the current unfinished kline.

        With ``start_ms``: the oldest ``limit`` klines with open_time >= start_ms. Without:
        the newest ``limit`` klines with open_time <= end_ms (default now).
        """
        st = self._sym(symbol)
        now_us = self.clock.now_us()
        upper_ms = now_us // 1000 if end_ms is None else min(end_ms, now_us // 1000)
        lower_ms = max(start_ms or 0, st.listing_min * 60_000)
        out: list[Kline] = []
        if upper_ms < lower_ms or limit <= 0:
            return out
        if start_ms is not None and interval == "1m":
            return self._klines_1m(st, lower_ms, upper_ms, limit, now_us)
        day0 = st.day0 * DAY_MIN  # its first trading day: where its 3d grid starts
        if start_ms is not None:
            b0 = bucket_of(interval, lower_ms // 60_000, day0)
            first = b0[0] if b0[0] * 60_000 >= start_ms else b0[1]
            while len(out) < limit and first * 60_000 <= upper_ms:
                end = bucket_of(interval, first, day0)[1]
                k = self._bucket(st, first, end, now_us)
                if k is not None:
                    out.append(k)
                first = end
            return out
        first, end = bucket_of(interval, upper_ms // 60_000, day0)
        while len(out) < limit and end * 60_000 > lower_ms:
            k = self._bucket(st, first, end, now_us)
            if k is not None:
                out.append(k)
            first, end = bucket_of(interval, first - 1, day0)
        out.reverse()
        return out

    def klines_1m_json(self, symbol: str, start_ms: int, end_ms: int | None, limit: int) -> bytes:
        """``klines(symbol, "1m", start_ms, end_ms, limit)`` as /api/v3/klines JSON, fast.

        Closed minutes come from per-day caches of encoded rows; only the running minute is
        built per request. The bytes equal ``orjson.dumps([k.to_rest_row() for k in ...])``.
        """
        st = self._sym(symbol)
        now_us = self.clock.now_us()
        upper_ms = now_us // 1000 if end_ms is None else min(end_ms, now_us // 1000)
        lower_ms = max(start_ms, st.listing_min * 60_000)
        if upper_ms < lower_ms or limit <= 0:
            return b"[]"
        first, last = -(-lower_ms // 60_000), upper_ms // 60_000
        now_min = now_us // MINUTE_US
        parts: list[bytes] = []
        for day, lo, hi in _day_spans(first, min(last, now_min - 1)):
            if hi - lo <= FEW_MINUTES and not self._day_cached(st, day):
                # A few recent minutes (a restart's, a gap's): built from their own blocks, not
                # from the whole day, which costs the day's trades (seconds for a busy symbol).
                for minute in range(day * DAY_MIN + lo, day * DAY_MIN + hi):
                    k = self._bucket(st, minute, minute + 1, (minute + 1) * MINUTE_US - 1)
                    if k is not None and len(parts) < limit:
                        parts.append(orjson.dumps(k.to_rest_row()))
                if len(parts) >= limit:
                    break
                continue
            minutes, rows = self._day_json(st, day)
            i, j = np.searchsorted(minutes, [lo, hi], side="left")
            parts.extend(rows[i : min(j, i + limit - len(parts))])
            if len(parts) >= limit:
                break
        if len(parts) < limit and first <= now_min <= last:
            k = self._bucket(st, now_min, now_min + 1, now_us)
            if k is not None:
                parts.append(orjson.dumps(k.to_rest_row()))
        return b"[" + b",".join(parts) + b"]"

    def _klines_1m(
        self, st: _Sym, lower_ms: int, upper_ms: int, limit: int, now_us: int
    ) -> list[Kline]:
        """The oldest ``limit`` 1m klines in [lower_ms, upper_ms], from the day columns."""
        first, last = -(-lower_ms // 60_000), upper_ms // 60_000
        now_min = now_us // MINUTE_US
        out: list[Kline] = []
        for day, lo, hi in _day_spans(first, min(last, now_min - 1)):
            s = self.minute_klines_day(st.spec.symbol, day)
            idx = (lo + np.nonzero(s.has[lo:hi])[0])[: limit - len(out)]
            cols = [c[idx].tolist() for c in s[1:]]
            for m, o, h, low, c, v, q, n, tv, tq in zip(idx.tolist(), *cols, strict=True):
                t = (day * DAY_MIN + m) * 60_000
                out.append(
                    Kline(
                        t, dec8(o), dec8(h), dec8(low), dec8(c), dec8(v), t + 59_999, dec8(q), n,
                        dec8(tv), dec8(tq),
                    )
                )  # fmt: skip
            if len(out) >= limit:
                return out
        if first <= now_min <= last:
            k = self._bucket(st, now_min, now_min + 1, now_us)
            if k is not None:
                out.append(k)
        return out

    def _day_cached(self, st: _Sym, day: int) -> bool:
        """Are the day's 1m klines already at hand (encoded rows or columns)?"""
        with self._lock:
            return (st.spec.symbol, day) in self._day_rows or day in st.day_stats

    def _day_json(self, st: _Sym, day: int) -> tuple[np.ndarray, list[bytes]]:
        key = (st.spec.symbol, day)
        with self._lock:
            hit = self._day_rows.get(key)
            if hit is not None:
                self._day_rows.move_to_end(key)
                return hit
        generation = st.day_stats  # replaced by a status change, which also drops day rows
        start_ms = day * DAY_MIN * 60_000
        # The whole day whatever the clock says: callers take only the minutes already closed.
        klines = self._klines_1m(st, start_ms, start_ms + DAY_MIN * 60_000 - 1, DAY_MIN, 2**62)
        minutes = np.array([k.open_time // 60_000 - day * DAY_MIN for k in klines], dtype=np.int64)
        entry = (minutes, [orjson.dumps(k.to_rest_row()) for k in klines])
        with self._lock:
            if st.day_stats is not generation:
                return entry
            self._day_rows[key] = entry
            while len(self._day_rows) > self.day_rows_entries:
                self._day_rows.popitem(last=False)
        return entry


def _day_spans(first: int, last: int) -> list[tuple[int, int, int]]:
    """Epoch minutes [first, last] cut into (day, first minute of day, end minute of day)."""
    spans = []
    minute = first
    while minute <= last:
        day = minute // DAY_MIN
        end = min(last + 1, (day + 1) * DAY_MIN)
        spans.append((day, minute - day * DAY_MIN, end - day * DAY_MIN))
        minute = end
    return spans


def bucket_of(interval: str, minute: int, first_day: int = 0) -> tuple[int, int]:
    """(first minute, end minute) of the ``interval`` bucket holding epoch ``minute``.

    ``first_day`` is the symbol's first day of trading (its first 1d kline's open, in epoch
    minutes): Binance's 3d klines run every three days from it, each symbol on its own grid
    (BTCUSDT's from 2017-08-17, SOLUSDT's from 2020-08-11: real klines, docs/timeframes.md)."""
    if interval == "1M":
        dt = datetime.fromtimestamp(minute * 60, UTC)
        start = datetime(dt.year, dt.month, 1, tzinfo=UTC)
        days = calendar.monthrange(dt.year, dt.month)[1]
        first = int(start.timestamp()) // 60
        return first, first + days * DAY_MIN
    size = INTERVAL_MINUTES.get(interval)
    if size is None:
        raise ValueError(f"invalid interval {interval!r}")
    offset = WEEK_OFFSET_MIN if interval == "1w" else first_day if interval == "3d" else 0
    first = (minute - offset) // size * size + offset
    return first, first + size


def _exact_sum(values: np.ndarray) -> int:
    """Sum as Python ints: a day of PEPE volume in 1e-8 units overflows int64."""
    return sum(values.tolist())


def _merge(acc: list, part: list) -> list:
    return [
        acc[0],
        max(acc[1], part[1]),
        min(acc[2], part[2]),
        part[3],
        *(a + b for a, b in zip(acc[4:], part[4:], strict=True)),
    ]


def _concat(parts: list, kind: type) -> NamedTuple:
    if not parts:
        dtypes = [bool if f in ("buyer_maker",) else np.int64 for f in kind._fields]
        return kind(*(np.zeros(0, dtype=d) for d in dtypes))
    if len(parts) == 1:
        return parts[0]
    return kind(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))


def trades_from_arrays(a: TradeArrays) -> list[Trade]:
    """Columns -> Trade objects."""
    return [
        Trade(i, dec8(p), dec8(q), dec8(qq), t, m)
        for i, p, q, qq, t, m in zip(
            a.ids.tolist(),
            a.price.tolist(),
            a.qty.tolist(),
            a.quote.tolist(),
            a.time_us.tolist(),
            a.buyer_maker.tolist(),
            strict=True,
        )
    ]


def aggs_from_arrays(a: AggArrays) -> list[AggTrade]:
    """Columns -> AggTrade objects."""
    return [
        AggTrade(i, dec8(p), dec8(q), f, last, t, m)
        for i, p, q, f, last, t, m in zip(
            a.ids.tolist(),
            a.price.tolist(),
            a.qty.tolist(),
            a.first_id.tolist(),
            a.last_id.tolist(),
            a.time_us.tolist(),
            a.buyer_maker.tolist(),
            strict=True,
        )
    ]
