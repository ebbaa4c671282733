"""A futures contract's values at its tick and step (api/precision.py): exact cuts of the
8-place strings the tables give, never a rounding."""

from __future__ import annotations

from api.precision import Places, at, places_of

FILTERS = [
    {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": "0.10"},
    {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "stepSize": "0.001"},
]


def test_places_come_from_the_filters_as_binance_wrote_them() -> None:
    assert places_of(FILTERS, inverse=False) == Places(price=2, qty=3, quote=5)
    # COIN-M: whole contracts, the base volume at 8.
    coin = [{**FILTERS[0], "tickSize": "0.1"}, {**FILTERS[1], "stepSize": "1"}]
    assert places_of(coin, inverse=True) == Places(price=1, qty=0, quote=8)
    # Never read, or without a tick: spot's 8 stay.
    assert places_of(None, inverse=False) is None
    assert places_of(FILTERS[1:], inverse=False) is None


def test_a_value_is_cut_only_where_its_digits_are_zeros() -> None:
    assert at("93512.50000000", 2) == "93512.50"
    assert at("206.00000000", 0) == "206"
    assert at("0.00000000", 3) == "0.000"
    assert at("28425514.78940000", 5) == "28425514.78940"
    # Off the grid (a value written before a tick change): shown whole, not rounded.
    assert at("93512.55000000", 1) == "93512.55000000"
    # Not an 8-place string, or 8 places asked: unchanged.
    assert at("93512.5", 2) == "93512.5"
    assert at("0.01037883", 8) == "0.01037883"
