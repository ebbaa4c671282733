"""Klines: per (symbol, UTC day) 1m kline columns built from the day's trades, any interval's
klines summed from them plus the running minute, and the 1m REST page as JSON from per-day
caches of encoded rows."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import orjson

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig
from fakebinance.market.blocks import BLOCK_MIN, BLOCKS_PER_DAY
from fakebinance.market.intervals import bucket_walk, day_spans
from fakebinance.market.records import Kline, MinuteStats
from fakebinance.market.symbol_state import SymbolState
from fakebinance.market.trades import TradeQueries
from fakebinance.market.units import DAY_MIN, MINUTE_US, dec8

DAY_CACHE_ENTRIES = 1024
# A 1m klines request for at most this many minutes of a day not yet computed builds them from
# their own blocks (about one block each) instead of computing the whole day.
FEW_MINUTES = 60
# Encoded 1m REST rows per symbol-day (~300 KB each), so a history page costs a slice and a join.
DAY_ROWS_ENTRIES = 512


class KlineQueries(TradeQueries):
    """Klines as /api/v3/klines and the klines dumps serve them."""

    def __init__(self, config: MarketConfig, clock: MarketClock | None = None) -> None:
        super().__init__(config, clock)
        self.day_rows_entries = DAY_ROWS_ENTRIES
        # (symbol, day) -> (minute-of-day of each kline, its /api/v3/klines row as JSON).
        self._day_rows: OrderedDict[tuple[str, int], tuple[np.ndarray, list[bytes]]] = OrderedDict()

    def minute_klines_day(self, symbol: str, day: int) -> MinuteStats:
        """1m kline columns for UTC day number ``day`` (ignores the clock; cached)."""
        st = self._sym(symbol)
        hit = self._cached(st, "day_stats", day)
        if hit is not None:
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
        self, st: SymbolState, first_min: int, end_min: int, keep: bool = False
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

    def _compute_day(self, st: SymbolState, day: int) -> MinuteStats:
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

    def _partial_minute(self, st: SymbolState, minute: int, now_us: int) -> tuple | None:
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

    def _bucket(self, st: SymbolState, first_min: int, end_min: int, now_us: int) -> Kline | None:
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
        for first, end in bucket_walk(interval, start_ms, lower_ms, upper_ms, day0):
            k = self._bucket(st, first, end, now_us)
            if k is not None:
                out.append(k)
                if len(out) >= limit:
                    break
        if start_ms is None:
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
        for day, lo, hi in day_spans(first, min(last, now_min - 1)):
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
        self, st: SymbolState, lower_ms: int, upper_ms: int, limit: int, now_us: int
    ) -> list[Kline]:
        """The oldest ``limit`` 1m klines in [lower_ms, upper_ms], from the day columns."""
        first, last = -(-lower_ms // 60_000), upper_ms // 60_000
        now_min = now_us // MINUTE_US
        out: list[Kline] = []
        for day, lo, hi in day_spans(first, min(last, now_min - 1)):
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

    def _day_cached(self, st: SymbolState, day: int) -> bool:
        """Are the day's 1m klines already at hand (encoded rows or columns)?"""
        with self._lock:
            return (st.spec.symbol, day) in self._day_rows or day in st.day_stats

    def _day_json(self, st: SymbolState, day: int) -> tuple[np.ndarray, list[bytes]]:
        key = (st.spec.symbol, day)
        hit = self._cached(self, "_day_rows", key)
        if hit is not None:
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
