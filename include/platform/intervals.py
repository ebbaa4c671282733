"""Binance's kline intervals, in one place: their lengths, where their candles open, and which
are stored (the dbt marts) or rolled up on read from a stored one.

Every candle of a fixed-length interval opens on a whole number of its length from an origin:
the Unix epoch up to 1d (a day holds a whole number of each, so they open at 00:00 UTC too),
Monday 1970-01-05 for 1w. 1M candles open at 00:00 UTC on the first of each calendar month.
The marts (dbt) are built with the same origins (`date_bin` from 1970-01-05, a whole number of
days from the epoch).

3d is the exception: Binance's 3-day grid is the symbol's own, from its first day of trading
(BTCUSDT's 3d klines open on 2017-08-17, 08-20, ...; SOLUSDT's on 2020-08-11, ...: real
/api/v3/klines answers, see docs/timeframes.md). Its candles are read with the symbol's grid
folded into the offset (``grid_offset``), from ``market.symbols.first_day``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# The time units and ms <-> datetime are include/platform/times.py's; imported from here too.
from include.platform.times import (
    DAY_MS,
    EPOCH,
    HOUR_MS,
    MINUTE_MS,
    SECOND_MS,
    to_datetime,
)

# 1s: kept by the streamer for SECOND_CANDLE_SYMBOLS only (market.candles_1s_live), never
# built by dbt nor rolled up; every zone is a whole number of its seconds.
SECOND = "1s"

# Fixed-length intervals in Binance's order from 1m (1s is above; 1M is below). 3d's origin
# is the symbol's own first day (grid_offset), the epoch here.
INTERVAL_MS = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}
MONTH = "1M"
INTERVALS = (*INTERVAL_MS, MONTH)
# 1970-01-05 was a Monday: weeks open there; every other fixed interval at the epoch.
WEEK_ORIGIN_MS = 4 * DAY_MS
ORIGIN_MS = {name: WEEK_ORIGIN_MS if name == "1w" else 0 for name in INTERVAL_MS}

# The intervals dbt builds a mart of (analytics.candles_<interval>).
STORED = ("1m", "5m", "15m", "1h", "4h", "1d", "1w")
MONTH_DAYS = 31


def _month_start(ms: int, months_ahead: int = 0) -> int:
    dt = to_datetime(ms)
    month = dt.year * 12 + dt.month - 1 + months_ahead
    start = datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return (start - EPOCH) // timedelta(milliseconds=1)


class UnknownGrid(ValueError):
    """3d for a symbol whose first day of trading is not known (market.symbols.first_day)."""


def grid_offset(interval: str, offset_ms: int, first_day_ms: int | None) -> int:
    """The offset a symbol's ``interval`` candles are read with (``bucket_start``): the zone's,
    and for 3d the symbol's own grid besides, every three days from ``first_day_ms`` (the open
    time of its first 1d kline), read in the zone like any other interval."""
    if interval != "3d":
        return offset_ms
    if first_day_ms is None:
        raise UnknownGrid(
            "3d candles open every three days from the symbol's first day of trading, not "
            "known yet: a REST backfill of the symbol reads it"
        )
    return offset_ms - first_day_ms % INTERVAL_MS["3d"]


def bucket_start(interval: str, ms: int, offset_ms: int = 0) -> int:
    """Open time (UTC ms) of the ``interval`` candle holding instant ``ms``, with the interval
    read in the zone ``offset_ms`` ahead of UTC (Binance's timeZone): a 1d candle at +08:00
    opens at 16:00 UTC."""
    if interval == MONTH:
        return _month_start(ms + offset_ms) - offset_ms
    if interval == SECOND:
        return ms - ms % SECOND_MS
    size = INTERVAL_MS[interval]
    return ms - (ms + offset_ms - ORIGIN_MS[interval]) % size


def bucket_end(interval: str, open_ms: int, offset_ms: int = 0) -> int:
    """The open time of the candle after the one opening at ``open_ms`` (its close time + 1)."""
    if interval == MONTH:
        return _month_start(open_ms + offset_ms, 1) - offset_ms
    if interval == SECOND:
        return open_ms + SECOND_MS
    return open_ms + INTERVAL_MS[interval]


def rolled_from(interval: str, offset_ms: int = 0) -> str | None:
    """The stored interval an ``interval`` candle in that zone is rolled up from on read: the
    longest one that both its length and the offset are whole numbers of (3m from 1m, 30m from
    15m, 1d at +05:45 from 15m, 1M from 1d). None when the interval is stored and the offset
    leaves its candles where UTC's are."""
    size = INTERVAL_MS.get(interval)
    if interval in STORED and size is not None and offset_ms % size == 0:
        return None
    fits = [
        name
        for name in STORED
        if name != "1w"
        and offset_ms % INTERVAL_MS[name] == 0
        and (size is None or size % INTERVAL_MS[name] == 0)
    ]
    return max(fits, key=INTERVAL_MS.__getitem__)


def roll_ratio(interval: str, source: str) -> int:
    """Stored ``source`` rows in one ``interval`` candle at most."""
    size = INTERVAL_MS.get(interval, MONTH_DAYS * DAY_MS)
    return size // INTERVAL_MS[source]
