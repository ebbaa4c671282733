"""Binance kline intervals the platform serves, and their UTC bucket arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from include.platform.times import MINUTE_MS

INTERVAL_MS = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
    "1w": 10080 * MINUTE_MS,
}
INTERVALS = tuple(INTERVAL_MS)
# 1970-01-05 was a Monday and a multiple of every shorter interval: one origin serves them all
# (the same origin as the dbt marts' date_bin).
ORIGIN_MS = 4 * 1440 * MINUTE_MS
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_start(interval: str, ms: int) -> int:
    """Open time (ms) of the ``interval`` candle holding instant ``ms``."""
    size = INTERVAL_MS[interval]
    return ms - (ms - ORIGIN_MS) % size


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (exact, no float)."""
    return EPOCH + timedelta(milliseconds=ms)
