"""Frozen configuration of the fake exchange: which symbols exist and how they trade."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
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
    # How much the rate swings over the UTC day (busiest at 14:00): 0.5 is 1.5x the mean at
    # 14:00 and 0.5x at 02:00; 0 keeps the mean all day (a market whose rate is set, ALL).
    daily_swing: float = 0.5
    # False: the rate wanders (a lognormal activity per day, gamma-distributed weights per
    # minute), as a real symbol's does. True: the rate stays at the mean minute after minute,
    # only the trades' own randomness left (ALL: a bench needs the rate it sets, not the -20% or
    # +25% a wandering top symbol makes of a given minute).
    steady: bool = False
    # A COIN-M contract's face value in USD (100 for BTCUSD, 10 for the rest); 0 for a spot
    # symbol or a USDⓈ-M contract. Its quantities count contracts and its "quote" volume is
    # the base asset's (docs/BINANCE.md "Futures").
    contract_size: int = 0

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
        if not 0 <= self.daily_swing < 1:
            raise ValueError(f"{self.symbol}: daily_swing must be in [0, 1)")
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


# Binance spot's skew: a symbol's share of the market's trades falls with its rank as
# rank**-ALL_ZIPF, so with ~2,000 symbols the top one carries ~22%, the top 10 ~55%, and the
# last ones trade about once a minute at the real average rate.
ALL_SYMBOLS = 2000
ALL_ZIPF = 1.2
# A symbol never stops trading for good: the halt of a delisted one ends in year 9000.
DELISTED_UNTIL = datetime(9000, 1, 1, tzinfo=UTC)


def zipf_rates(n: int, trades_per_second: float, exponent: float = ALL_ZIPF) -> list[float]:
    """Trades per second of ranks 1..n: rank**-exponent, scaled to sum to ``trades_per_second``."""
    weights = [rank**-exponent for rank in range(1, n + 1)]
    total = sum(weights)
    return [trades_per_second * w / total for w in weights]


def all_market(
    start: datetime,
    *,
    n_symbols: int = ALL_SYMBOLS,
    trades_per_second: float = 460.0,
    listings: int = 3,
    delistings: int = 3,
    events_after: float = 60.0,
    events_every: float = 30.0,
    exponent: float = ALL_ZIPF,
    seed: int = 42,
) -> MarketConfig:
    """ALL: ``n_symbols`` spot symbols with Binance-like skew, trading ``trades_per_second``
    over the whole market minute after minute (no daily swing, a steady rate), and a few
    changes mid-run.

    The symbols are ``ALL0001USDT`` (busiest) .. ``ALLnnnnUSDT``, listed before ``start``. From
    ``start + events_after`` seconds on, one change every ``events_every`` seconds, listings and
    delistings in turn: ``NEW0001USDT``.. are listed (each trading like a mid-rank symbol), and
    mid-rank ``ALL`` symbols are delisted: halted for good from that minute on, so
    exchangeInfo shows them in BREAK and their streams go quiet. ``n_symbols`` counts the
    symbols listed at ``start``; the new ones come on top.
    """
    if n_symbols < 1 or trades_per_second <= 0:
        raise ValueError("all_market needs n_symbols >= 1 and trades_per_second > 0")
    if delistings > n_symbols // 2:
        raise ValueError("all_market: at most half the symbols can be delisted")
    start = start.astimezone(UTC)
    listed = start - timedelta(days=30)
    rates = zipf_rates(n_symbols, trades_per_second, exponent)
    base = make_symbols(n_symbols, listed_at=listed, prefix="ALL")
    specs = [
        replace(spec, trades_per_minute=rate * 60, daily_swing=0.0, steady=True)
        for spec, rate in zip(base, rates, strict=True)
    ]
    # Changes alternate listing, delisting, listing...; each at its own instant.
    kinds: list[str] = []
    for i in range(max(listings, delistings)):
        kinds += ["list"] * (i < listings) + ["delist"] * (i < delistings)
    moments = [
        start + timedelta(seconds=events_after + i * events_every) for i in range(len(kinds))
    ]
    listing_at = [m for m, kind in zip(moments, kinds, strict=True) if kind == "list"]
    delisting_at = [m for m, kind in zip(moments, kinds, strict=True) if kind == "delist"]
    middle = rates[n_symbols // 2]
    for i, at in enumerate(listing_at, start=1):
        new = make_symbols(i, listed_at=at, prefix="NEW")[-1]
        specs.append(replace(new, trades_per_minute=middle * 60, daily_swing=0.0, steady=True))
    # Delisted: ranks spread over the upper middle, so each traded before it went.
    for k, at in enumerate(delisting_at):
        rank = n_symbols // 4 + k * max(1, n_symbols // (4 * max(1, delistings)))
        specs[rank] = replace(specs[rank], halts=((at, DELISTED_UNTIL),))
    return MarketConfig(seed, tuple(specs))


def default_config(seed: int = 42) -> MarketConfig:
    """The default three-symbol market."""
    return MarketConfig(seed, default_symbols())
