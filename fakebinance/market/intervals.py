"""Binance's kline intervals and the bucket each minute falls in (epoch minutes, UTC)."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, datetime

from fakebinance.market.units import DAY_MIN

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


def day_spans(first: int, last: int) -> list[tuple[int, int, int]]:
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


def bucket_walk(
    interval: str, start_ms: int | None, lower_ms: int, upper_ms: int, first_day: int = 0
) -> Iterator[tuple[int, int]]:
    """The (first minute, end minute) buckets a klines page walks: with ``start_ms`` forward
    from the first bucket opening at or after it, up to ``upper_ms``; without, backward from
    the bucket holding ``upper_ms`` while buckets end after ``lower_ms`` (the caller takes as
    many as its ``limit`` and reverses a backward page)."""
    if start_ms is not None:
        b0 = bucket_of(interval, lower_ms // 60_000, first_day)
        first = b0[0] if b0[0] * 60_000 >= start_ms else b0[1]
        while first * 60_000 <= upper_ms:
            end = bucket_of(interval, first, first_day)[1]
            yield first, end
            first = end
        return
    first, end = bucket_of(interval, upper_ms // 60_000, first_day)
    while end * 60_000 > lower_ms:
        yield first, end
        first, end = bucket_of(interval, first - 1, first_day)
