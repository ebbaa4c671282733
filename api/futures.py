"""Binance's futures REST paths over a futures market's own schemas (DESIGN.md "Futures
markets"): /fapi/v1 for USDⓈ-M, /dapi/v1 for COIN-M.

Trade klines (``klines``, and ``continuousKlines`` of a perpetual) go through the same klines
plan as spot's, over market_usdm and analytics_usdm; mark, index and premium klines and the
funding history are read from the loader's tables as Binance shapes them. What clients need to
start (exchangeInfo, time, ping) answers in futures' form.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime

import orjson
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.binance import (
    BinanceError,
    json_response,
    klines_request,
    mandatory,
    optional_int,
    rest_row,
    symbol_param,
)
from api.klines import fetch_klines
from api.market_reads import SymbolInfo
from api.precision import contract_row
from api.sql import load_sql
from api.symbols import SymbolCache
from api.tickers import Tickers
from include.platform.intervals import INTERVAL_MS, WEEK_ORIGIN_MS, bucket_end, to_datetime
from include.platform.markets import Market, pair_of

# Binance's futures klines: up to 1,500 a request, 500 unless asked; no 1s.
MAX_LIMIT = 1500
DEFAULT_LIMIT = 500
FUNDING_MAX = 1000
FUNDING_DEFAULT = 100
# The price series a futures market serves, by endpoint: its table and the parameter naming the
# contract (index klines name the pair).
PRICE_KLINES = {
    "markPriceKlines": ("mark_price_klines_1m", "symbol"),
    "indexPriceKlines": ("index_price_klines_1m", "pair"),
    "premiumIndexKlines": ("premium_index_klines_1m", "symbol"),
}
# Price klines are rolled up in fixed buckets from the epoch's grid (weeks from a Monday); a
# month or a 3-day candle, whose grid is not fixed, is not served from these tables yet.
PRICE_INTERVALS = tuple(i for i in INTERVAL_MS if i not in ("1s", "3d", "1M"))
PRICE_SQL = load_sql("futures_price_klines")
FUNDING_SQL = load_sql("futures_funding_rates")
_QUARTER = re.compile(r"_(\d{6})$")
FAR_FUTURE_MS = 4_133_404_800_000  # Binance's deliveryDate of a perpetual
# COIN-M's kline kinds answer the newest ``limit`` rows between startTime and endTime, at most
# 200 days apart (an endTime not sent is startTime + 200 days; docs/BINANCE.md "Futures").
COIN_WINDOW_MS = 200 * 86_400_000


def contract_of(symbol: str) -> dict[str, object]:
    """What a contract's name says: its pair, type and delivery (BTCUSDT and BTCUSD_PERP are
    perpetuals; BTCUSDT_261225 delivers on 2026-12-25 at 08:00 UTC)."""
    quarter = _QUARTER.search(symbol)
    if quarter is None:
        return {"pair": pair_of(symbol), "contractType": "PERPETUAL", "deliveryDate": FAR_FUTURE_MS}
    day = datetime.strptime(quarter[1], "%y%m%d").replace(hour=8, tzinfo=UTC)
    return {
        "pair": pair_of(symbol),
        "contractType": "CURRENT_QUARTER",
        "deliveryDate": int(day.timestamp() * 1000),
    }


def _limit(request: Request, default: int, most: int) -> int:
    limit = optional_int(request.query_params, "limit")
    if limit is None:
        return default
    if limit <= 0:
        raise BinanceError(400, -1100, "Illegal characters found in parameter 'limit'.")
    return min(limit, most)


class FuturesApi:
    """One futures market's REST paths (its prefix: /fapi/v1 or /dapi/v1)."""

    def __init__(
        self,
        market: Market,
        pool: AsyncConnectionPool,
        klines_pool: AsyncConnectionPool,
        symbols: SymbolCache,
        rate_limits: list[dict],
        ticker_ttl: float = 1.0,
    ) -> None:
        self.market = market
        self.pool = pool
        self.klines_pool = klines_pool
        self.symbols = symbols
        self.rate_limits = rate_limits
        # The market's tickers, computed as spot's from its own candles.
        self.tickers = Tickers(pool, symbols, ticker_ttl, market)

    def routes(self) -> list[Route]:
        prefix = self.market.rest_prefix
        return [
            Route(f"{prefix}/klines", self.klines),
            Route(f"{prefix}/continuousKlines", self.continuous_klines),
            *(Route(f"{prefix}/{name}", self.price_klines) for name in PRICE_KLINES),
            Route(f"{prefix}/fundingRate", self.funding_rate),
            Route(f"{prefix}/exchangeInfo", self.exchange_info),
            Route(f"{prefix}/time", self.server_time),
            Route(f"{prefix}/ping", self.ping),
            Route(f"{prefix}/ticker/price", self.tickers.price),
            Route(f"{prefix}/ticker/24hr", self.tickers.day),
        ]

    def _newest_until(self, start: int | None, end: int | None) -> int | None:
        """COIN-M's upper bound for a request with a startTime (its newest ``limit`` rows up
        to there are the answer); None where the market reads oldest first from a start."""
        if self.market.name != "coinm" or start is None:
            return None
        if end is None:
            return start + COIN_WINDOW_MS
        if end - start > COIN_WINDOW_MS:
            raise BinanceError(400, -1127, "More than 200 days between startTime and endTime.")
        return end

    async def klines(self, request: Request, symbol: str | None = None) -> Response:
        """GET klines: the contract's trade candles, as spot's are planned and read."""
        try:
            query = request.query_params
            if query.get("interval") == "1s":
                raise BinanceError(400, -1120, "Invalid interval.")
            req = klines_request({**query, "symbol": symbol} if symbol else query, MAX_LIMIT)
            await self.symbols.require(req.symbol)
            req = replace(
                req,
                market=self.market.name,
                offset_ms=self.symbols.grid(req.symbol, req.interval, req.offset_ms),
            )
            start, until = req.start_ms, self._newest_until(req.start_ms, req.end_ms)
            if until is not None:
                req = replace(req, start_ms=None, end_ms=until)
        except BinanceError as exc:
            return json_response(exc.body(), exc.status)
        async with self.klines_pool.connection() as conn:
            rows = await fetch_klines(conn, req)
        if until is not None:
            rows = [r for r in rows if r[0] >= start]
        if (places := self.symbols.places(req.symbol)) is not None:
            rows = [contract_row(r, places) for r in rows]
        return Response(
            orjson.dumps([rest_row(req.interval, r, req.offset_ms) for r in rows]),
            media_type="application/json",
        )

    async def continuous_klines(self, request: Request) -> Response:
        """GET continuousKlines: a pair's perpetual (the only contract type held as a series)."""
        try:
            pair = symbol_param(request.query_params, "pair")
            kind = mandatory(request.query_params, "contractType")
            if kind != "PERPETUAL":
                raise BinanceError(400, -1100, f"contractType {kind} is not held here.")
        except BinanceError as exc:
            return json_response(exc.body(), exc.status)
        return await self.klines(request, self.market.perpetual(pair))

    async def price_klines(self, request: Request) -> Response:
        """GET markPriceKlines, indexPriceKlines, premiumIndexKlines: the series' minutes rolled
        up into the interval (open, high, low, close, the samples behind them)."""
        endpoint = request.url.path.rsplit("/", 1)[-1]
        table, key = PRICE_KLINES[endpoint]
        q = request.query_params
        try:
            name = symbol_param(q, key)
            symbol = name if key == "symbol" else self.market.perpetual(name)
            interval = mandatory(q, "interval")
            if interval not in PRICE_INTERVALS:
                raise BinanceError(400, -1120, "Invalid interval.")
            start, end = optional_int(q, "startTime"), optional_int(q, "endTime")
            limit = _limit(request, DEFAULT_LIMIT, MAX_LIMIT)
            until = self._newest_until(start, end)
            await self.symbols.require(symbol)
        except BinanceError as exc:
            return json_response(exc.body(), exc.status)
        size = INTERVAL_MS[interval]
        oldest_first = start is not None and until is None
        end = until if until is not None else end
        statement = sql.SQL(PRICE_SQL).format(
            bucket=sql.Literal(f"{size // 1000} seconds"),
            origin=sql.Literal(to_datetime(WEEK_ORIGIN_MS)),
            table=sql.Identifier(self.market.raw_schema, table),
            direction=sql.SQL("asc" if oldest_first else "desc"),
        )
        lo = start - start % size if start is not None else 0
        hi = end if end is not None else time.time_ns() // 1_000_000
        params = {
            "symbol": symbol,
            "lo": to_datetime(max(lo, 0)),
            "hi": to_datetime(hi),
            "limit": limit,
        }
        async with self.pool.connection() as conn:
            cur = await conn.execute(statement, params)
            rows = await cur.fetchall()
        if not oldest_first:
            rows.reverse()
        return json_response(
            [
                [t, o, h, lo_, c, "0", bucket_end(interval, t) - 1, "0", n, "0", "0", "0"]
                for t, o, h, lo_, c, n in rows
            ]
        )

    async def funding_rate(self, request: Request) -> Response:
        """GET fundingRate: with startTime the oldest ``limit`` from it, else the newest up to
        endTime; oldest first either way."""
        q = request.query_params
        try:
            symbol = symbol_param(q) if "symbol" in q else None
            if symbol is None and self.market.name == "coinm":
                raise BinanceError(400, -1102, "Mandatory parameter 'symbol' was not sent.")
            if symbol is not None:
                await self.symbols.require(symbol)
            start, end = optional_int(q, "startTime"), optional_int(q, "endTime")
            limit = _limit(request, FUNDING_DEFAULT, FUNDING_MAX)
        except BinanceError as exc:
            return json_response(exc.body(), exc.status)
        statement = sql.SQL(FUNDING_SQL).format(
            table=sql.Identifier(self.market.raw_schema, "funding_rates"),
            direction=sql.SQL("asc" if start is not None else "desc"),
        )
        params = {
            "symbol": symbol,
            "lo": to_datetime(start or 0),
            "hi": to_datetime(end if end is not None else time.time_ns() // 1_000_000),
            "limit": limit,
        }
        async with self.pool.connection() as conn:
            cur = await conn.execute(statement, params)
            rows = await cur.fetchall()
        if start is None:
            rows.reverse()
        return json_response(
            [
                {"symbol": s, "fundingTime": t, "fundingRate": rate, "markPrice": mark}
                for s, t, rate, mark in rows
            ]
        )

    async def exchange_info(self, request: Request) -> Response:
        """GET exchangeInfo: every contract held, in futures' form."""
        symbols = await self.symbols.described()
        return json_response(
            {
                "timezone": "UTC",
                "serverTime": time.time_ns() // 1_000_000,
                "futuresType": "U_MARGINED" if self.market.name == "usdm" else "COIN_MARGINED",
                "rateLimits": self.rate_limits,
                "exchangeFilters": [],
                "assets": [],
                "symbols": [self._contract(s) for s in symbols],
            }
        )

    def _contract(self, info: SymbolInfo) -> dict[str, object]:
        """One contract as Binance's futures exchangeInfo describes it, with what is held."""
        contract = contract_of(info.symbol)
        pair = str(contract["pair"])
        quote = info.quote_asset or ("USD" if self.market.name == "coinm" else pair[-4:])
        base = info.base_asset or pair.removesuffix(quote)
        filters = info.filters if isinstance(info.filters, list) else []
        status = info.status or "TRADING"
        described: dict[str, object] = {
            "symbol": info.symbol,
            **contract,
            "onboardDate": info.first_day_ms or 0,
            "baseAsset": base,
            "quoteAsset": quote,
            "marginAsset": quote if self.market.name == "usdm" else base,
            "pricePrecision": 8,
            "quantityPrecision": 8,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "filters": filters,
            "orderTypes": [],
            "timeInForce": [],
        }
        if self.market.name == "coinm":
            described["contractStatus"] = status
            described["contractSize"] = 100 if base == "BTC" else 10
        else:
            described["status"] = status
        return described

    async def server_time(self, request: Request) -> Response:
        return json_response({"serverTime": time.time_ns() // 1_000_000})

    async def ping(self, request: Request) -> Response:
        return json_response({})
