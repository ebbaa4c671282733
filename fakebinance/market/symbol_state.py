"""One symbol's state: its seed key, its listing and halts (which minutes may trade), its
orders and trades per day (a hash, O(1) a day) and its smooth price path, plus the caches the
market keeps per symbol."""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from fakebinance.clock import to_us
from fakebinance.config import SymbolSpec
from fakebinance.market.records import MinuteStats
from fakebinance.market.units import DAY_MIN, MINUTE_US

# Raw trades per taker order on average: an order fills several makers at one price.
TRADES_PER_ORDER = 1.3
# COIN-M trades are larger than spot's: a notional drawn for spot, times this, in contracts.
CONTRACT_NOTIONAL = 20
_U64 = np.uint64


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


class SymbolState:
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

    def lots(self, notional: np.ndarray, ticks: np.ndarray) -> np.ndarray:
        """Each trade's quantity in steps for its notional (quote units) at its price; a
        COIN-M contract's in whole contracts of ``contract_size`` USD."""
        size = self.spec.contract_size
        if size:
            return np.clip(np.rint(notional * CONTRACT_NOTIONAL / size), 1, 10**6).astype(np.int64)
        return np.clip(np.rint(notional * self.qty_scale / ticks), 1, 10**12).astype(np.int64)

    def quote(self, ticks: np.ndarray, lots: np.ndarray) -> np.ndarray:
        """Each trade's quote quantity in 1e-8 units: price x qty, exact at 8 decimals. A
        COIN-M trade's is its base quantity, qty x contract_size / price, rounded half up to 8
        decimals (a trade's baseQty; a kline's base volume sums them)."""
        size = self.spec.contract_size
        if size:
            scale = size * 10 ** (8 + self.spec.price_decimals - self.spec.qty_decimals)
            if lots.size and 2 * int(lots.max()) * scale + int(ticks.max()) >= 2**63:
                # A price of many decimals (0.0017 at 7): the numerator outgrows int64, so it
                # is worked in Python's integers (the base quantity itself fits).
                big_lots, big_ticks = lots.astype(object), ticks.astype(object)
                exact = (2 * big_lots * scale + big_ticks) // (2 * big_ticks)
                return exact.astype(np.int64)
            return (2 * lots * scale + ticks) // (2 * ticks)
        return ticks * lots * self.quote_mult

    def mid_ticks(self, t_us: np.ndarray) -> np.ndarray:
        """Smooth deterministic price path (in ticks) at the given times."""
        t_min = t_us.astype(np.float64) / MINUTE_US
        angle = np.outer(t_min, 2 * math.pi / self.periods) + self.phases
        return self.base_ticks * np.exp(np.sin(angle) @ self.amps)
