"""A futures contract's candle values as Binance prints them: prices at its tick's places,
quantities at its step's, quote volumes at both (COIN-M's base volume at 8), where spot prints
every value at 8 (docs/BINANCE.md "Futures": "57212.69", "496.263", "28425514.78940").

The tables hold the values exactly; the places come from the contract's exchangeInfo filters as
Binance gave them (`tickSize` "0.10" prints 2). A contract whose filters were never read keeps 8.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.klines import Row

SPOT_PLACES = 8


@dataclass(frozen=True)
class Places:
    """Decimal places of a contract's prices, quantities and quote volumes."""

    price: int
    qty: int
    quote: int


def _places(size: str) -> int:
    """Places of a filter's size as written ("0.10" -> 2, "1" -> 0)."""
    return len(size.partition(".")[2])


def places_of(filters: list | None, inverse: bool) -> Places | None:
    """A contract's places from its filters (None without a tick and a step)."""
    sizes = {
        f.get("filterType"): f.get("tickSize") or f.get("stepSize") for f in filters or () if f
    }
    tick, step = sizes.get("PRICE_FILTER"), sizes.get("LOT_SIZE")
    if not tick or not step:
        return None
    price, qty = _places(tick), _places(step)
    quote = SPOT_PLACES if inverse else min(price + qty, SPOT_PLACES)
    return Places(price, qty, quote)


def at(value: str, places: int) -> str:
    """An 8-place decimal string at ``places``; unchanged where that would drop a digit that
    is not 0 (a value off the grid is shown whole, never rounded)."""
    cut = SPOT_PLACES - places
    if cut <= 0:
        return value
    point = value.find(".")
    if point < 0 or len(value) - point - 1 != SPOT_PLACES or value[-cut:].strip("0"):
        return value
    return value[: -cut - 1] if places == 0 else value[:-cut]


def contract_row(row: Row, p: Places) -> Row:
    """A klines row (open time, OHLC, volume, quote, count, taker volumes) at the places."""
    t, o, h, lo, c, v, q, n, tv, tq = row
    return (
        t,
        at(o, p.price),
        at(h, p.price),
        at(lo, p.price),
        at(c, p.price),
        at(v, p.qty),
        at(q, p.quote),
        n,
        at(tv, p.qty),
        at(tq, p.quote),
    )
