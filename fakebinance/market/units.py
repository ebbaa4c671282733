"""The market's units: epoch µs for trades, epoch minutes for the kline grid, money as ints in
1e-8 units (Binance's 8 decimals), and the two conversions out of them."""

from __future__ import annotations

from decimal import Decimal

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
DAY_MIN = 1440
UNITS = 10**8


def fmt8(units: int) -> str:
    """Int in 1e-8 units -> Binance decimal string with 8 decimals."""
    if units < 0:
        return "-" + fmt8(-units)
    return f"{units // UNITS}.{units % UNITS:08d}"


def dec8(units: int) -> Decimal:
    """Int in 1e-8 units -> Decimal with exponent -8."""
    return Decimal(int(units)).scaleb(-8)
