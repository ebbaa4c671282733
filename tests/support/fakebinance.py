"""The fake exchange tests' market: its frozen time, a halted symbol and a new listing."""

from __future__ import annotations

from decimal import Decimal

from fakebinance.config import MarketConfig, SymbolSpec, default_symbols, quiet_symbol, utc

# A Wednesday after 2025-01-01 (so dumps of the days before carry µs timestamps).
NOW = utc(2025, 3, 12, 12, 0, 30)
# Minutes 10:00 .. 10:04 of 2025-03-11 are dark (the halt starts inside minute 10:00).
HALT = (utc(2025, 3, 11, 10, 0, 30), utc(2025, 3, 11, 10, 5))
NEW_LISTING = utc(2025, 3, 12, 11, 30, 20)


def build_config(seed: int = 42) -> MarketConfig:
    """Default symbols plus QUIETUSDT, HALTUSDT (halted) and NEWUSDT (listed just before NOW)."""
    halted = SymbolSpec("HALTUSDT", Decimal("12.5"), 3, 3, 8.0, utc(2025, 3, 1), halts=(HALT,))
    late = SymbolSpec("NEWUSDT", Decimal("2.5"), 4, 1, 10.0, NEW_LISTING)
    return MarketConfig(seed, (*default_symbols(), quiet_symbol(), halted, late))
