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

from fakebinance.market.intervals import bucket_of
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

    def _bucket(
        self, symbol: str, kind: str, first: int, end: int, now_ms: int
    ) -> tuple[int, int, int, int, int] | None:
        """(open, high, low, close, samples) over minutes [first, end), listed and begun."""
        st = self._state(symbol)
        first = max(first, st.listing_min)
        end = min(end, now_ms // 60_000 + 1)
        if end <= first:
            return None
        rows = []
        for day in range(first // DAY_MIN, (end - 1) // DAY_MIN + 1):
            lo, hi = max(first, day * DAY_MIN), min(end, (day + 1) * DAY_MIN)
            rows.append(self._day(symbol, kind, day)[lo - day * DAY_MIN : hi - day * DAY_MIN])
        samples = np.concatenate(rows)
        per_minute = SAMPLES_PER_MINUTE[kind]
        count = per_minute * len(samples)
        running = now_ms // 60_000
        if end - 1 == running:
            # The minute now running: only the samples taken so far.
            elapsed = now_ms % 60_000
            taken = elapsed >= _OFFSETS_MS
            last = samples[-1][taken]
            count -= per_minute - (elapsed // (60_000 // per_minute) + 1)
            closed = samples[:-1]
            highs = [int(last.max())] + ([int(closed.max())] if len(closed) else [])
            lows = [int(last.min())] + ([int(closed.min())] if len(closed) else [])
            return int(samples[0][0]), max(highs), min(lows), int(last[-1]), count
        high, low = int(samples.max()), int(samples.min())
        return int(samples[0][0]), high, low, int(samples[-1][-1]), count

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
        day0 = st.day0 * DAY_MIN
        buckets: list[tuple[int, int]] = []
        if start_ms is not None:
            b0 = bucket_of(interval, lower // 60_000, day0)
            first = b0[0] if b0[0] * 60_000 >= start_ms else b0[1]
            while len(buckets) < limit and first * 60_000 <= upper:
                buckets.append(bucket_of(interval, first, day0))
                first = buckets[-1][1]
        else:
            first = bucket_of(interval, upper // 60_000, day0)[0]
            while len(buckets) < limit and bucket_of(interval, first, day0)[1] * 60_000 > lower:
                buckets.append(bucket_of(interval, first, day0))
                first = bucket_of(interval, first - 1, day0)[0]
            buckets.reverse()
        out = []
        for first, end in buckets:
            k = self._bucket(symbol, kind, first, end, now_ms)
            if k is not None:
                out.append((first * 60_000, *k[:4], end * 60_000 - 1, k[4]))
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
            closes = [
                int(self._day(symbol, "premiumIndex", m // DAY_MIN)[m % DAY_MIN][-1])
                for m in range(lo, minute)
            ]
            premium = sum(closes) // len(closes)
            rate = premium + min(max(INTEREST - premium, -CLAMP), CLAMP)
            rate = min(max(rate, -CAP), CAP)
            mark = int(self._day(symbol, "markPrice", minute // DAY_MIN)[minute % DAY_MIN][0])
            out.append((at, rate, mark))
        return out
