"""A candle's grain and columns, and parsing the times users type in the CLI and DAG params."""

from __future__ import annotations

from datetime import UTC, datetime

# One minute in epoch milliseconds, the grain of every candle (fakebinance/reference.py keeps
# its own: the oracle shares no code with the product).
MINUTE_MS = 60_000

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
