"""Frozen configuration of the fake exchange: which symbols exist and how they trade."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

logger = logging.getLogger(__name__)

QUIET_TRADES_PER_MINUTE = 0.3


@dataclass(frozen=True)
class SymbolSpec:
    """One spot symbol; halts are [start, end) UTC windows without trades or klines.

    Listing and halt bounds act on whole minutes: a minute that overlaps a halt, or that starts
    before ``listed_at``, has no trades and no kline.
    """

    symbol: str
    base_price: Decimal
    price_decimals: int
    qty_decimals: int
    trades_per_minute: float
    listed_at: datetime
    status: str = "TRADING"
    halts: tuple[tuple[datetime, datetime], ...] = ()
    base_asset: str = ""
    quote_asset: str = "USDT"

    def __post_init__(self) -> None:
        if self.price_decimals < 0 or self.qty_decimals < 0:
            raise ValueError("decimals must be >= 0")
        # p*q must fit 8 decimals exactly, which is what Binance's quoteQty carries.
        if self.price_decimals + self.qty_decimals > 8:
            raise ValueError(f"{self.symbol}: price_decimals + qty_decimals must be <= 8")
        if self.base_price <= 0:
            raise ValueError("base_price must be > 0")
        if self.listed_at.tzinfo is None:
            raise ValueError("listed_at must be timezone-aware (UTC)")
        if not self.base_asset:
            quote = self.quote_asset
            base = self.symbol[: -len(quote)] if self.symbol.endswith(quote) else self.symbol
            object.__setattr__(self, "base_asset", base)

    @property
    def tick_size(self) -> Decimal:
        """Price step (PRICE_FILTER tickSize)."""
        return Decimal(1).scaleb(-self.price_decimals)

    @property
    def step_size(self) -> Decimal:
        """Quantity step (LOT_SIZE stepSize)."""
        return Decimal(1).scaleb(-self.qty_decimals)


@dataclass(frozen=True)
class MarketConfig:
    """A whole synthetic market: one seed drives every symbol deterministically."""

    seed: int
    symbols: tuple[SymbolSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [s.symbol for s in self.symbols]
        if len(names) != len(set(names)):
            raise ValueError("duplicate symbol in MarketConfig")


def utc(*args: int) -> datetime:
    """Shorthand for a UTC datetime."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def default_symbols() -> tuple[SymbolSpec, ...]:
    """BTCUSDT (busy), ETHUSDT and PEPEUSDT (tiny price, whole-unit quantities)."""
    return (
        SymbolSpec("BTCUSDT", Decimal("93500"), 2, 5, 60.0, utc(2017, 8, 17)),
        SymbolSpec("ETHUSDT", Decimal("3300"), 2, 4, 40.0, utc(2017, 8, 17)),
        SymbolSpec("PEPEUSDT", Decimal("0.00001234"), 8, 0, 20.0, utc(2023, 5, 5)),
    )


def quiet_symbol(
    symbol: str = "QUIETUSDT",
    *,
    base_price: Decimal = Decimal("1.2345"),
    listed_at: datetime | None = None,
    halts: tuple[tuple[datetime, datetime], ...] = (),
) -> SymbolSpec:
    """A symbol trading ~0.3 times a minute, so most minutes are idle."""
    return SymbolSpec(
        symbol,
        base_price,
        4,
        2,
        QUIET_TRADES_PER_MINUTE,
        listed_at or utc(2024, 1, 1),
        halts=halts,
    )


def make_symbols(
    n: int,
    *,
    trades_per_minute: float = 60.0,
    listed_at: datetime | None = None,
    quiet_every: int = 0,
    prefix: str = "SYM",
) -> tuple[SymbolSpec, ...]:
    """N synthetic symbols SYM0001USDT...; every ``quiet_every``-th one is quiet (0 = none)."""
    listed = listed_at or utc(2024, 1, 1)
    out = []
    for i in range(1, n + 1):
        quiet = quiet_every > 0 and i % quiet_every == 0
        # Spread prices over several magnitudes so formatting of small and large values is hit.
        magnitude = (i % 7) - 3
        base = (Decimal(1) + Decimal(i % 97) / 10).scaleb(magnitude)
        price_decimals = max(2, min(8, 4 - magnitude))
        qty_decimals = max(0, min(8 - price_decimals, 2 + magnitude))
        out.append(
            SymbolSpec(
                f"{prefix}{i:04d}USDT",
                base,
                price_decimals,
                qty_decimals,
                QUIET_TRADES_PER_MINUTE if quiet else trades_per_minute,
                listed,
            )
        )
    return tuple(out)


def default_config(seed: int = 42) -> MarketConfig:
    """The default three-symbol market."""
    return MarketConfig(seed, default_symbols())
