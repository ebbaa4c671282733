"""A perpetual's price series besides its trades: index, mark and premium index, sampled per
second as Binance's mark/index klines count them, and the funding every 8 hours they imply.

All derive from the contract's own smooth price path (``SymbolState.mid_ticks``), so they are
deterministic from (seed, symbol, time) like its trades. Each minute is described by five
samples (seconds 0, 15, 30, 45 and 59), which keeps a year of 1d klines cheap while every
longer kline stays the exact roll-up of its minutes (first open, max, min, last close, sum of
counts), as a check over them expects. Values are ints in 1e-8 units.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from fakebinance.market.intervals import bucket_walk
from fakebinance.market.symbol_state import SymbolState
from fakebinance.market.units import DAY_MIN, UNITS

KINDS = ("markPrice", "indexPrice", "premiumIndex")
# Column 8 of a closed 1m kline: the price samples behind it (60 in Binance's mark and index
# examples, 12 in its premium index example).
SAMPLES_PER_MINUTE = {"markPrice": 60, "indexPrice": 60, "premiumIndex": 12}
_OFFSETS_MS = np.array([0, 15_000, 30_000, 45_000, 59_000], dtype=np.int64)
# Binance's funding: every 8 hours, F = P + clamp(I - P, -0.05%, 0.05%) with the interest
# rate I = 0.01% and P the premium index averaged over the period, capped at +-0.75%.
FUNDING_MIN = 480
INTEREST = 10_000
CLAMP = 50_000
CAP = 750_000
_DAYS_CACHED = 64


def premium_units(st: SymbolState, t_ms: np.ndarray) -> np.ndarray:
    """The premium index at ``t_ms``: a few basis points around the interest rate."""
    hours = t_ms.astype(np.float64) / 3_600_000
    phase = (st.key % 10_000) / 10_000 * 2 * math.pi
    value = (
        1e-4
        + 8e-4 * np.sin(2 * math.pi * hours / 53.0 + phase)
        + 1.5e-4 * np.sin(2 * math.pi * hours / 0.9 + 2 * phase)
    )
    return np.rint(value * UNITS).astype(np.int64)


def index_units(st: SymbolState, t_ms: np.ndarray) -> np.ndarray:
    """The index price at ``t_ms``: the contract's smooth price path, to 8 decimals."""
    return np.rint(st.mid_ticks(t_ms * 1000) * st.ticks_to_units).astype(np.int64)


def mark_units(st: SymbolState, t_ms: np.ndarray) -> np.ndarray:
    """The mark price: the index moved by the premium."""
    index = index_units(st, t_ms)
    return index + index * premium_units(st, t_ms) // UNITS


_SERIES = {"markPrice": mark_units, "indexPrice": index_units, "premiumIndex": premium_units}


class PriceSeries:
    """Klines of the three series and funding history, for a market's contracts."""

    def __init__(self, state: Callable[[str], SymbolState]) -> None:
        # The market's own look-up (a listing at runtime shows at once).
        self._state = state
        self._lock = threading.Lock()
        self._days: OrderedDict[tuple[str, str, int], np.ndarray] = OrderedDict()

    def _day(self, symbol: str, kind: str, day: int) -> np.ndarray:
        """The day's samples, one row of five per minute."""
        key = (symbol, kind, day)
        with self._lock:
            hit = self._days.get(key)
            if hit is not None:
                self._days.move_to_end(key)
                return hit
        minutes = np.arange(day * DAY_MIN, (day + 1) * DAY_MIN, dtype=np.int64)
        times = (minutes[:, None] * 60_000 + _OFFSETS_MS[None, :]).ravel()
        samples = _SERIES[kind](self._state(symbol), times).reshape(DAY_MIN, len(_OFFSETS_MS))
        with self._lock:
            self._days[key] = samples
            while len(self._days) > _DAYS_CACHED:
                self._days.popitem(last=False)
        return samples

    def _span(self, symbol: str, kind: str, first: int, end: int) -> np.ndarray:
        """The samples of minutes [first, end), one row of five per minute."""
        rows = []
        for day in range(first // DAY_MIN, (end - 1) // DAY_MIN + 1):
            base = day * DAY_MIN
            lo, hi = max(first, base) - base, min(end, base + DAY_MIN) - base
            rows.append(self._day(symbol, kind, day)[lo:hi])
        return np.concatenate(rows)

    def _bucket(
        self, symbol: str, kind: str, first: int, end: int, now_ms: int
    ) -> tuple[int, int, int, int, int] | None:
        """(open, high, low, close, samples) over minutes [first, end), listed and begun."""
        first = max(first, self._state(symbol).listing_min)
        end = min(end, now_ms // 60_000 + 1)
        if end <= first:
            return None
        samples = self._span(symbol, kind, first, end)
        per_minute = SAMPLES_PER_MINUTE[kind]
        count = per_minute * len(samples)
        taken = samples.ravel()
        if end - 1 == now_ms // 60_000:
            # The minute now running: only the samples taken so far.
            elapsed = now_ms % 60_000
            count -= per_minute - (elapsed // (60_000 // per_minute) + 1)
            taken = np.concatenate([samples[:-1].ravel(), samples[-1][elapsed >= _OFFSETS_MS]])
        return int(taken[0]), int(taken.max()), int(taken.min()), int(taken[-1]), count

    def klines(
        self,
        symbol: str,
        kind: str,
        interval: str,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        now_ms: int,
    ) -> list[tuple[int, int, int, int, int, int, int]]:
        """(open_time, open, high, low, close, close_time, samples) per kline, as the trade
        klines page: with ``start_ms`` the oldest ``limit`` from it, else the newest ``limit``
        up to ``end_ms`` (default now), the running kline included."""
        st = self._state(symbol)
        upper = now_ms if end_ms is None else min(end_ms, now_ms)
        lower = max(start_ms or 0, st.listing_min * 60_000)
        if upper < lower or limit <= 0:
            return []
        out = []
        for first, end in bucket_walk(interval, start_ms, lower, upper, st.day0 * DAY_MIN):
            k = self._bucket(symbol, kind, first, end, now_ms)
            if k is not None:
                out.append((first * 60_000, *k[:4], end * 60_000 - 1, k[4]))
                if len(out) >= limit:
                    break
        if start_ms is None:
            out.reverse()
        return out

    def funding(self, symbol: str, start_ms: int, end_ms: int) -> list[tuple[int, int, int]]:
        """(funding_time, rate, mark price) of each funding in [start_ms, end_ms]: every 8 hours
        from 00:00 UTC, the first after the contract's listing."""
        st = self._state(symbol)
        period = FUNDING_MIN * 60_000
        first = max(start_ms, (st.listing_min + 1) * 60_000)
        out = []
        for at in range(-(-first // period) * period, end_ms + 1, period):
            minute = at // 60_000
            lo = max(minute - FUNDING_MIN, st.listing_min)
            closes = self._span(symbol, "premiumIndex", lo, minute)[:, -1]
            premium = int(closes.sum()) // len(closes)
            rate = premium + min(max(INTEREST - premium, -CLAMP), CLAMP)
            rate = min(max(rate, -CAP), CAP)
            mark = int(self._day(symbol, "markPrice", minute // DAY_MIN)[minute % DAY_MIN][0])
            out.append((at, rate, mark))
        return out
