"""Time in the platform: the units in epoch milliseconds, ms <-> datetime, a candle's columns,
and parsing the times users type in the CLI and DAG params. The one owner of each (dbt's bucket
sizes and week origin are vars checked against include/platform/intervals.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Epoch milliseconds; a minute is the grain of every candle (fakebinance/reference.py keeps its
# own: the oracle shares no code with the product).
SECOND_MS = 1000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (exact, no float)."""
    return EPOCH + timedelta(milliseconds=ms)


def to_ms(when: datetime) -> int:
    """An aware datetime as epoch milliseconds (exact); a naive one is refused."""
    if when.tzinfo is None:
        raise ValueError(f"{when.isoformat()} has no time zone: give UTC times")
    return (when - EPOCH) // timedelta(milliseconds=1)


# A candle's values, in DESIGN.md's column order (every table and Binance's kline array after
# the open time).
CANDLE_FIELDS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trade_count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
)


def parse_utc(text: str) -> datetime:
    """'2025-01-01', '2025-01-01T10:00' or with an offset: an aware UTC datetime (naive = UTC)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise ValueError(
            f"{text!r} is not an ISO date or datetime (e.g. 2025-01-31T12:00)"
        ) from err
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
