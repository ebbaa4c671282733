"""The fake's perpetual contracts, USDⓈ-M and COIN-M: their specs and exchangeInfo's
description of them (docs/BINANCE.md, "Futures").

A contract trades through the same engine as a spot symbol (``SymbolSpec``), at its own tick
and step: Binance's BTCUSDT perpetual quotes to 0.10 and trades in 0.001 BTC, where spot
quotes to 0.01 and trades in 0.00001. A COIN-M contract (BTCUSD_PERP) trades whole contracts
of a face value in USD (``contract_size``), and its volumes in the base asset are qty x size /
price.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from fakebinance.config import SymbolSpec, make_symbols, utc

# A perpetual never delivers: Binance dates it 2100-12-25.
PERPETUAL_DELIVERY_MS = 4_133_404_800_000
# Offsets the contracts' seed from spot's, so a perpetual's trades are not its spot twin's.
SEED_OFFSET = 1_000_003


def default_contracts() -> tuple[SymbolSpec, ...]:
    """BTCUSDT and ETHUSDT perpetuals (listed 2019-09-08 and 2019-11-27, as on Binance)."""
    return (
        SymbolSpec("BTCUSDT", Decimal("93500"), 1, 3, 120.0, utc(2019, 9, 8)),
        SymbolSpec("ETHUSDT", Decimal("3300"), 2, 3, 80.0, utc(2019, 11, 27)),
    )


def coin_contracts() -> tuple[SymbolSpec, ...]:
    """BTCUSD and ETHUSD COIN-M perpetuals (listed 2020-08-10 and 2020-08-14): 100 and 10 USD
    a contract, quoted to 0.1 and 0.01 as on Binance."""
    return (
        SymbolSpec(
            "BTCUSD_PERP", Decimal("93500"), 1, 0, 60.0, utc(2020, 8, 10),
            base_asset="BTC", quote_asset="USD", contract_size=100,
        ),
        SymbolSpec(
            "ETHUSD_PERP", Decimal("3300"), 2, 0, 40.0, utc(2020, 8, 14),
            base_asset="ETH", quote_asset="USD", contract_size=10,
        ),
    )  # fmt: skip


def synthetic_coin_contracts(n: int, trades_per_minute: float) -> tuple[SymbolSpec, ...]:
    """N synthetic COIN-M perpetuals SYM0001USD_PERP...: spot's synthetic symbols' prices and
    ticks, whole contracts of 10 USD (COIN-M at ALL's size in a bench)."""
    return tuple(
        replace(
            spec,
            symbol=spec.symbol.removesuffix("USDT") + "USD_PERP",
            qty_decimals=0,
            base_asset=spec.symbol.removesuffix("USDT"),
            quote_asset="USD",
            contract_size=10,
        )
        for spec in make_symbols(n, trades_per_minute=trades_per_minute)
    )


def pair_of(spec: SymbolSpec) -> str:
    """The contract's pair: a USDⓈ-M perpetual's is its name, a COIN-M one's the part before
    the underscore (BTCUSD_PERP -> BTCUSD)."""
    return spec.symbol.split("_")[0]


def quote_decimals(spec: SymbolSpec) -> int:
    """Places of a quote volume: the tick's and the step's on USDⓈ-M; a COIN-M contract's base
    volume carries 8."""
    return 8 if spec.contract_size else spec.price_decimals + spec.qty_decimals


def coin_symbol_info(spec: SymbolSpec, status: str) -> dict:
    """One contract as /dapi/v1/exchangeInfo lists it: ``contractStatus`` and
    ``contractSize``, margined in its base asset, no MIN_NOTIONAL filter."""
    info = symbol_info(spec, status)
    del info["status"]
    info.update(
        pair=pair_of(spec),
        contractStatus=status,
        contractSize=spec.contract_size,
        marginAsset=spec.base_asset,
        equalQtyPrecision=4,
    )
    info["filters"] = [f for f in info["filters"] if f["filterType"] != "MIN_NOTIONAL"]
    return info


def symbol_info(spec: SymbolSpec, status: str) -> dict:
    """One contract as /fapi/v1/exchangeInfo lists it."""
    tick, step = f"{spec.tick_size:f}", f"{spec.step_size:f}"
    return {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY_MS,
        "onboardDate": int(spec.listed_at.timestamp() * 1000),
        "status": status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base_asset,
        "quoteAsset": spec.quote_asset,
        "marginAsset": spec.quote_asset,
        "pricePrecision": spec.price_decimals,
        "quantityPrecision": spec.qty_decimals,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "4529764",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "1000", "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": "120", "stepSize": step},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def units_at(units: int, decimals: int) -> str:
    """An int in 1e-8 units at ``decimals`` places (exact: the value lies on that grid)."""
    text = f"{units // 10 ** (8 - decimals)}"
    if decimals == 0:
        return text
    text = text.rjust(decimals + 1, "0")
    return f"{text[:-decimals]}.{text[-decimals:]}"
