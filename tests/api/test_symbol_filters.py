"""exchangeInfo's filters kept as Binance gave them: repeated by our exchangeInfo, read by ccxt
as the market's precision, and TradingView's price scale follows the tick size."""

from __future__ import annotations

import ccxt.async_support as ccxt_async
import httpx

from include.history.klines_store import store_symbols


def binance_symbol(symbol: str, base: str, tick: str, step: str) -> dict:
    """One symbol of exchangeInfo as Binance writes it (filters abridged to three)."""
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "quoteAsset": "USDT",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
    }


INFO = {
    "symbols": [
        binance_symbol("BTCUSDT", "BTC", "0.01000000", "0.00001000"),
        binance_symbol("SHIBUSDT", "SHIB", "0.00000001", "1.00000000"),
        binance_symbol("ODDUSDT", "ODD", "10.00000000", "0.10000000"),
    ]
}


async def test_filters_reach_exchange_info_ccxt_and_the_price_scale(api, conn) -> None:
    """Stored by the loader's exchangeInfo path, the filters come back verbatim; ccxt's market
    precision is the tick and step size; UDF's pricescale/minmov give the tick (0.01 -> 100/1,
    1e-8 -> 1e8/1, 10 -> 1/10) and volume_precision the step's places."""
    assert store_symbols(conn, INFO) == 3
    async with httpx.AsyncClient(base_url=api.http) as client:
        info = (await client.get("/api/v3/exchangeInfo")).json()
        udf = {
            s: (await client.get("/udf/symbols", params={"symbol": s})).json()
            for s in ("BTCUSDT", "SHIBUSDT", "ODDUSDT")
        }
    served = {s["symbol"]: s["filters"] for s in info["symbols"]}
    assert served == {s["symbol"]: s["filters"] for s in INFO["symbols"]}
    scales = {s: (u["pricescale"], u["minmov"], u["volume_precision"]) for s, u in udf.items()}
    assert scales == {
        "BTCUSDT": (100, 1, 5),
        "SHIBUSDT": (100_000_000, 1, 0),
        "ODDUSDT": (1, 10, 1),
    }

    exchange = ccxt_async.binance({"options": {"fetchMarkets": {"types": ["spot"]}}})
    exchange.urls["api"]["public"] = api.http + "/api/v3"
    try:
        markets = await exchange.load_markets()
    finally:
        await exchange.close()
    btc = markets["BTC/USDT"]["precision"]
    assert (btc["price"], btc["amount"]) == (0.01, 0.00001)

    changed = {"symbols": [binance_symbol("BTCUSDT", "BTC", "0.10000000", "0.00001000")]}
    store_symbols(conn, changed)
    stored = conn.execute(
        "select filters -> 0 ->> 'tickSize' from market.symbols where symbol = 'BTCUSDT'"
    ).fetchone()[0]
    assert stored == "0.10000000"


async def test_a_symbol_never_described_claims_no_filters(api, conn) -> None:
    """A symbol with candles but no exchangeInfo row: no filters invented, 8 places."""
    conn.execute(
        "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, "
        "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source) "
        "values ('XYZUSDT', '2025-01-01', 1, 1, 1, 1, 1, 1, 1, 0, 0, 'rest')"
    )
    async with httpx.AsyncClient(base_url=api.http) as client:
        info = (await client.get("/api/v3/exchangeInfo")).json()
        udf = (await client.get("/udf/symbols", params={"symbol": "XYZUSDT"})).json()
    assert [s["filters"] for s in info["symbols"]] == [[]]
    assert (udf["pricescale"], udf["minmov"], udf["volume_precision"]) == (100_000_000, 1, 8)
