"""Trade generation: per (symbol, UTC day) the orders and trades of each minute, the first
trade and aggTrade id of each day, and per (symbol, 15-minute block) the trades themselves,
drawn from the block's own RNG and kept in an LRU cache sized to the market."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, NamedTuple

import numpy as np

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig
from fakebinance.market.symbol_state import SymbolState
from fakebinance.market.units import DAY_MIN, MINUTE_US

# Trades are generated and cached in blocks of 15 minutes per symbol.
BLOCK_MIN = 15
BLOCK_US = BLOCK_MIN * MINUTE_US
BLOCKS_PER_DAY = 1440 // BLOCK_MIN
BLOCK_CACHE_TRADES = 6_000_000


class Block(NamedTuple):
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


class BlockSource:
    """The base of Market: the symbols' state, the lock guarding every cache, and the
    trades generated per symbol-block."""

    def __init__(self, config: MarketConfig, clock: MarketClock | None = None) -> None:
        self.config = config
        self.clock = clock or MarketClock()
        self._lock = threading.RLock()
        self._syms: dict[str, SymbolState] = {
            s.symbol: SymbolState(config.seed, s) for s in config.symbols
        }
        self._blocks: OrderedDict[tuple[str, int], Block] = OrderedDict()
        self._block_trades = 0
        # Room for every symbol's current and next block: a busy market (ALL at a high rate)
        # must not evict the blocks its feed reads on every tick.
        per_block = BLOCK_MIN * sum(s.trades_per_minute for s in config.symbols)
        self.block_cache_trades = max(BLOCK_CACHE_TRADES, int(2.2 * per_block))

    def _sym(self, symbol: str) -> SymbolState:
        return self._syms[symbol]

    # ----------------------------------------------------------------- caches (LRUs)
    def _cached(self, owner: object, cache: str, key: Hashable) -> Any:
        """``owner.<cache>[key]`` marked as the most recently used, or None."""
        # Named, not passed: a status change replaces a symbol's caches, so the lock covers
        # finding the cache too.
        with self._lock:
            lru = getattr(owner, cache)
            hit = lru.get(key)
            if hit is not None:
                lru.move_to_end(key)
            return hit

    # ----------------------------------------------------------------- counts and ids
    def _day_counts(self, st: SymbolState, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(orders, trades) per minute of the day before masking, and the trading mask."""
        hit = self._cached(st, "counts", day)
        if hit is not None:
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

    def _ensure_prefix(self, st: SymbolState, day: int) -> None:
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

    def _day_base(self, st: SymbolState, day: int) -> tuple[int, int]:
        """(first trade id, first agg id) of ``day``."""
        if day < st.day0:
            return 0, 0
        self._ensure_prefix(st, day)
        i = day - st.day0
        return int(st.cum_n[i]), int(st.cum_o[i])

    # ----------------------------------------------------------------- blocks
    def _block(self, st: SymbolState, block: int, keep: bool = True) -> Block:
        """Trades of one symbol-block (generated once, then LRU-cached)."""
        key = (st.spec.symbol, block)
        hit = self._cached(self, "_blocks", key)
        if hit is not None:
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

    def _generate_block(self, st: SymbolState, block: int) -> Block:
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
        lots = st.lots(notional, ticks)
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
        return Block(
            trade_base,
            agg_base,
            t_us,
            ticks,
            lots,
            st.quote(ticks, lots),
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
