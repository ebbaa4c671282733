"""GET /api/v3/exchangeInfo: every symbol held as Binance describes it, and the limits this API
enforces in Binance's form."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from api.binance import BinanceError, json_response, symbol_param, symbols_param
from api.market_reads import SymbolInfo
from api.symbols import SymbolCache

# Symbols one exchangeInfo request may name (Binance's tickers take 100 too).
MAX_INFO_SYMBOLS = 100
# Quote assets by suffix, for a symbol exchangeInfo was never read for (ccxt splits pairs).
QUOTE_SUFFIXES = ("USDT", "FDUSD", "USDC", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def symbol_info(info: SymbolInfo) -> dict:
    """One symbol as Binance describes it, holding only what the platform knows.

    Status, base, quote and filters are Binance's own (market.symbols) when exchangeInfo was
    read, else TRADING, a split by quote suffix and no filters. Nothing can be traded here, so
    no order types or permissions are claimed; the filters say the symbol's tick and step sizes,
    which clients (ccxt's precision, TradingView's price scale) read.
    """
    symbol = info.symbol
    quote = info.quote_asset or next(
        (q for q in QUOTE_SUFFIXES if symbol.endswith(q) and symbol != q), symbol[-4:]
    )
    base = info.base_asset or symbol[: -len(quote)]
    return {
        "symbol": symbol,
        "status": info.status or "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": [],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": False,
        "isMarginTradingAllowed": False,
        "filters": info.filters or [],
        "permissions": [],
        "permissionSets": [],
    }


async def exchange_info(
    request: Request, symbols_cache: SymbolCache, limits: list[dict]
) -> Response:
    """GET /api/v3/exchangeInfo: every symbol held, or those asked for."""
    q = request.query_params
    wanted: list[str] | None = None
    try:
        if q.get("symbol") and q.get("symbols"):
            raise BinanceError(400, -1128, "Combination of optional parameters invalid.")
        if q.get("symbol"):
            wanted = [symbol_param(q)]
        elif "symbols" in q:
            wanted = symbols_param(q)
            if len(wanted) > MAX_INFO_SYMBOLS:
                raise BinanceError(
                    400,
                    -1101,
                    "Too many values sent for parameter 'symbols', max allowed is "
                    f"{MAX_INFO_SYMBOLS}.",
                )
        for s in wanted or ():
            await symbols_cache.require(s)
    except BinanceError as exc:
        return json_response(exc.body(), exc.status)
    symbols = await symbols_cache.described()
    if wanted is not None:
        symbols = [s for s in symbols if s.symbol in wanted]
    return json_response(
        {
            "timezone": "UTC",
            "serverTime": time.time_ns() // 1_000_000,
            "rateLimits": limits,
            "exchangeFilters": [],
            "symbols": [symbol_info(s) for s in symbols],
        }
    )


def rate_limits(limit: int) -> list[dict]:
    """What this API enforces, in Binance's form: API_WEIGHT_LIMIT per client address and
    minute (none when 0). Nothing can be ordered here, so no ORDERS limits."""
    if limit <= 0:
        return []
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": limit,
        }
    ]
