"""A klines request planned once: which rows answer it (the 1s table, a mart, or a roll-up of a
stored interval's rows), on which grid, between which bounds, read which way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from psycopg import sql

from api.klines.request import KlinesRequest
from api.klines.statements import identity, sum_buckets, sum_months
from include.platform.intervals import (
    INTERVAL_MS,
    MINUTE_MS,
    ORIGIN_MS,
    SECOND,
    bucket_end,
    bucket_start,
    roll_ratio,
    rolled_from,
    to_datetime,
)

# Stored rows one rolled-up answer reads at most (1M at limit 1000 is 31,031 days).
MAX_ROLLED_ROWS = 32_000
# Far enough from any candle, close enough for date arithmetic.
FAR_PAST_MS = 0
FAR_FUTURE_MS = 32_503_680_000_000  # 3000-01-01

# "seconds": market.candles_1s_live's rows as they are; "mart": a stored interval's statement
# (mart, forming candle and live minutes); "rolled": that statement's rows of a stored
# interval, summed into the candles of one no mart holds (or held in another zone).
Source = Literal["seconds", "mart", "rolled"]


@dataclass(frozen=True)
class Plan:
    """Everything a klines request decides before a statement runs."""

    source: Source
    # The interval whose statement is run: the request's, or the stored one a roll-up sums.
    reads: str
    # The zone's offset from UTC (ms): the grid the candles open on.
    offset_ms: int
    # Without a startTime the newest candles are read, newest first, and turned round after.
    newest_first: bool
    # The statement's bound parameters: symbol, bounds (lo, hi; the minutes' mlo, mhi; a
    # roll-up's first open and grid), and the stored rows it may read (limit).
    params: dict
    # Wraps the statement: a roll-up's rows are summed in it into their candles.
    wrap: Callable[[sql.Composable], sql.Composable]
    # Candles the answer holds at most.
    limit: int
    # Under which key a newest answer remembers where it began, so the next same request reads
    # from there (execute.py); None when the answer has bounds of its own or reads the 1s table.
    resume: tuple[str, str, int, int] | None


def plan_klines(req: KlinesRequest) -> Plan | None:
    """The one plan for ``req`` (None: no candle can match it)."""
    if req.interval == SECOND:
        return _plan_seconds(req)
    source = rolled_from(req.interval, req.offset_ms)
    if source is not None:
        return _plan_rolled(req, source)
    params = _stored_params(req.symbol, req.interval, req.start_ms, req.end_ms, req.limit)
    if params is None:
        return None
    newest_first = req.start_ms is None
    return Plan(
        "mart", req.interval, req.offset_ms, newest_first, params, identity, req.limit, _resume(req)
    )


def _resume(req: KlinesRequest) -> tuple[str, str, int, int] | None:
    """Per request shape (symbol, interval, limit, zone), for an answer with neither bound."""
    if req.start_ms is not None or req.end_ms is not None:
        return None
    return (req.symbol, req.interval, req.limit, req.offset_ms)


def _clamped(start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
    lo = FAR_PAST_MS if start_ms is None else max(start_ms, FAR_PAST_MS)
    hi = FAR_FUTURE_MS if end_ms is None else min(end_ms, FAR_FUTURE_MS)
    return lo, hi


def _plan_seconds(req: KlinesRequest) -> Plan | None:
    """1s candles, kept by the streamer for SECOND_CANDLE_SYMBOLS (the caller checks the
    symbol is one): no mart, no roll-up."""
    lo, hi = _clamped(req.start_ms, req.end_ms)
    if hi < lo or req.limit <= 0:
        return None
    params = {
        "symbol": req.symbol,
        "lo": to_datetime(lo),
        "hi": to_datetime(hi),
        "limit": req.limit,
    }
    newest_first = req.start_ms is None
    return Plan("seconds", SECOND, req.offset_ms, newest_first, params, identity, req.limit, None)


def _stored_params(
    symbol: str, interval: str, start_ms: int | None, end_ms: int | None, limit: int
) -> dict | None:
    """The klines statement's parameters for a stored interval (None: nothing can match)."""
    size = INTERVAL_MS[interval]
    lo, hi = _clamped(start_ms, end_ms)
    if hi < lo or limit <= 0:
        return None
    # Minutes of every candle whose open time lies in [lo, hi].
    mlo = lo + (-lo) % MINUTE_MS if lo > FAR_PAST_MS else lo
    mhi = min(bucket_start(interval, hi) + size, FAR_FUTURE_MS)
    return {
        "symbol": symbol,
        "lo": to_datetime(lo),
        "hi": to_datetime(hi),
        "mlo": to_datetime(mlo),
        "mhi": to_datetime(mhi),
        "limit": limit,
    }


def _plan_rolled(req: KlinesRequest, source: str) -> Plan | None:
    """An interval no mart holds (3m, 30m, 2h, 6h, 8h, 12h, 1M), or one read in a zone that
    moves its candles off the mart's (1d at +08:00): the stored candles of ``source``
    (include/platform/intervals.py), a few per candle, summed in the statement."""
    lo, hi = _clamped(req.start_ms, req.end_ms)
    if hi < lo or req.limit <= 0:
        return None
    tf, offset = req.interval, req.offset_ms
    first = bucket_start(tf, lo, offset)
    if first < lo:
        first = bucket_end(tf, first, offset)
    end = bucket_end(tf, bucket_start(tf, hi, offset), offset)
    if first >= end:
        return None
    # One candle more than asked: the one at the far end may be cut by the limit. A zone that
    # needs many small rows per candle (1w at +05:45: 672 quarter hours) gets fewer candles
    # per answer; clients page on by time as they do at the end of history.
    ratio = roll_ratio(tf, source)
    want = min((req.limit + 1) * ratio, max(MAX_ROLLED_ROWS, 2 * ratio))
    newest_first = req.start_ms is None
    # Summed in the statement: a few hundred candles cross the wire, not the thousands of rows
    # they are made of, and the event loop never adds up a month of minutes.
    params = _stored_params(req.symbol, source, None if newest_first else first, end - 1, want)
    if params is None:
        return None
    params |= {"first": first, "offset": offset}
    if tf in INTERVAL_MS:
        params |= {"size": INTERVAL_MS[tf], "shift": offset - ORIGIN_MS[tf]}
    wrap = sum_buckets if tf in INTERVAL_MS else sum_months
    return Plan("rolled", source, offset, newest_first, params, wrap, req.limit, _resume(req))
