"""REST side of the fake's futures: USDⓈ-M's /fapi/v1 and COIN-M's /dapi/v1 market data with
Binance's JSON, weights and limits (docs/BINANCE.md, "Futures"). The IP weight limit is the
futures' own (2,400 a minute by default), apart from spot's and shared by both venues since
2026-06-30; funding history has its own 500 requests per 5 minutes.

COIN-M differs where Binance's does: its contracts are named BTCUSD_PERP and their pair BTCUSD,
exchangeInfo says ``contractStatus`` and ``contractSize``, volumes count contracts and the
"quote" columns carry the base asset's volume (8 decimals), trades carry ``baseQty``, the
24-hour ticker ``baseVolume``, fundingRate needs a symbol, and klines between two times are the
newest ``limit`` of them (at most 200 days apart), not the oldest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from fakebinance.config import SymbolSpec
from fakebinance.futures.contracts import (
    coin_symbol_info,
    pair_of,
    quote_decimals,
    symbol_info,
)
from fakebinance.futures.prices import FUNDING_MIN, KINDS, PriceSeries
from fakebinance.futures.trades import CoinTrades, ContractTrades, places
from fakebinance.market import INTERVALS, Kline, Market
from fakebinance.market.intervals import INTERVAL_MINUTES
from fakebinance.market.units import DAY_MIN, fmt8
from fakebinance.ratelimit import WeightLimiter
from fakebinance.rest import (
    ApiError,
    ClockEndpoints,
    Handler,
    _int,
    _mandatory,
    check_params,
    json_response,
    kline_span,
    refusal,
)

# A row of a kline kind: the trade klines' Kline, a price series' tuple.
R = TypeVar("R")


@dataclass(frozen=True)
class Venue:
    """Where a futures market is served and how its answers differ."""

    prefix: str
    coin_margined: bool
    futures_type: str


USDM_VENUE = Venue("/fapi/v1", False, "U_MARGINED")
COINM_VENUE = Venue("/dapi/v1", True, "COIN_MARGINED")
PREFIX = USDM_VENUE.prefix
# COIN-M's kline window: startTime and endTime at most 200 days apart.
COIN_WINDOW_MS = 200 * 86_400_000
# Futures have every spot interval but 1s.
FUTURES_INTERVALS = tuple(i for i in INTERVALS if i != "1s")
KLINE_PARAMS = {"interval", "startTime", "endTime", "limit"}
ALLOWED_PARAMS = {
    "ping": set(),
    "time": set(),
    "exchangeInfo": set(),
    "klines": {"symbol", *KLINE_PARAMS},
    "continuousKlines": {"pair", "contractType", *KLINE_PARAMS},
    "markPriceKlines": {"symbol", *KLINE_PARAMS},
    "indexPriceKlines": {"pair", *KLINE_PARAMS},
    "premiumIndexKlines": {"symbol", *KLINE_PARAMS},
    "fundingRate": {"symbol", "startTime", "endTime", "limit"},
    "premiumIndex": {"symbol"},
    "aggTrades": {"symbol", "fromId", "startTime", "endTime", "limit"},
    "trades": {"symbol", "limit"},
    "historicalTrades": {"symbol", "fromId", "limit"},
    "ticker/24hr": {"symbol"},
}
# What the trade endpoints weigh (docs/BINANCE.md "Futures"); the 24-hour ticker 1 for one
# symbol, 40 for all.
TRADE_WEIGHTS = {"aggTrades": 20, "historicalTrades": 20, "trades": 5}
CONTRACT_TYPES = ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER", "TRADIFI_PERPETUAL")
KLINE_DEFAULT, KLINE_MAX = 500, 1500
FUNDING_DEFAULT, FUNDING_MAX = 100, 1000
FUNDING_PERIOD_MS = FUNDING_MIN * 60_000


def kline_weight(limit: int) -> int:
    """Every futures kline kind weighs by the limit sent: [1,100) 1, [100,500) 2, [500,1000] 5,
    more 10."""
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def request_weight(endpoint: str, query: dict) -> int:
    """The request's weight in its pool (fundingRate: one request in its own)."""
    if endpoint.endswith("lines"):
        try:
            limit = int(query.get("limit") or KLINE_DEFAULT)
        except ValueError:
            limit = KLINE_DEFAULT
        return kline_weight(limit)
    if endpoint == "premiumIndex":
        return 1 if query.get("symbol") else 10
    if endpoint == "ticker/24hr":
        return 1 if query.get("symbol") else 40
    return TRADE_WEIGHTS.get(endpoint, 1)


class FuturesRestApi(ClockEndpoints):
    """Handlers for a venue's /fapi/v1/* or /dapi/v1/*, charged by ``middleware``."""

    def __init__(
        self,
        market: Market,
        limiter: WeightLimiter,
        funding_limiter: WeightLimiter,
        venue: Venue = USDM_VENUE,
    ) -> None:
        self.market = market
        self.limiter = limiter
        self.funding_limiter = funding_limiter
        self.venue = venue
        self.prefix = venue.prefix
        self.prices = PriceSeries(market.symbol_state)
        # The trade endpoints and the 24-hour ticker: spot's handlers at the contract's units.
        self.trades = (CoinTrades if venue.coin_margined else ContractTrades)(market, limiter)

    def routes(self) -> list[web.RouteDef]:
        """aiohttp route table."""
        handlers = {
            "ping": self.ping,
            "time": self.time,
            "exchangeInfo": self.exchange_info,
            "klines": self.klines,
            "continuousKlines": self.continuous_klines,
            "markPriceKlines": self.price_klines("markPrice", "symbol"),
            "indexPriceKlines": self.price_klines("indexPrice", "pair"),
            "premiumIndexKlines": self.price_klines("premiumIndex", "symbol"),
            "fundingRate": self.funding_rate,
            "premiumIndex": self.premium_index,
            "aggTrades": self.trades.agg_trades,
            "trades": self.trades.recent_trades,
            "historicalTrades": self.trades.historical_trades,
            "ticker/24hr": self.trades.ticker_24hr,
        }
        return [web.get(f"{self.prefix}/{name}", handler) for name, handler in handlers.items()]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Charge weight (429, then 418), add used-weight headers, map errors to JSON."""
        if not request.path.startswith(f"{self.prefix}/"):
            return await handler(request)
        endpoint = request.path[len(self.prefix) + 1 :]
        ip = request.remote or "?"
        limiter = self.funding_limiter if endpoint == "fundingRate" else self.limiter
        verdict = limiter.check(ip, request_weight(endpoint, request.query))
        refused = refusal(verdict, ip, limiter.limit, self.market.clock.now_ms())
        if refused is not None:
            return refused
        self.trades.requests[request.path] += 1
        try:
            check_params(request, ALLOWED_PARAMS.get(endpoint))
            response = await handler(request)
        except ApiError as exc:
            response = json_response({"code": exc.code, "msg": exc.msg}, exc.status)
        # The IP weight header, whichever pool the request counted in.
        response.headers.update(self.limiter.headers_for(ip))
        return response

    # ---------------------------------------------------------------- parameters
    def _contract(self, request: web.Request, name: str = "symbol") -> str:
        """The listed contract a request names (by its ``pair``: the pair's perpetual)."""
        symbol = _mandatory(request, name).upper()
        if name == "pair" and self.venue.coin_margined:
            symbol = f"{symbol}_PERP"
        if not self.market.is_listed(symbol):
            raise ApiError(400, -1121, "Invalid symbol.")
        return symbol

    def _window(self, request: web.Request) -> tuple[str, int | None, int | None, int]:
        interval, start, end = kline_span(request, FUTURES_INTERVALS)
        limit = _int(request, "limit")
        if limit is not None and limit <= 0:
            raise ApiError(400, -1100, "Illegal characters found in parameter 'limit'.")
        return interval, start, end, min(limit or KLINE_DEFAULT, KLINE_MAX)

    def _newest_in(self, start: int | None, end: int | None) -> tuple[int | None, int | None, bool]:
        """COIN-M's window: with either time, [start, end] at most 200 days apart whose newest
        ``limit`` rows come back; (start, end, newest first). USDⓈ-M's as given, oldest
        first from a start."""
        if not self.venue.coin_margined or (start is None and end is None):
            return start, end, start is None
        if start is not None and end is not None and end - start > COIN_WINDOW_MS:
            raise ApiError(400, -1127, "More than 200 days between startTime and endTime.")
        if start is None:
            assert end is not None
            start = end - COIN_WINDOW_MS
        elif end is None:
            end = start + COIN_WINDOW_MS
        return start, end, True

    def _rows(
        self,
        read: Callable[[int | None, int | None], list[R]],
        open_time: Callable[[R], int],
        interval: str,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[R]:
        """A kline kind's rows for a window: ``read(start, end)`` gives at most ``limit`` from
        start (the newest up to end without one). COIN-M's window answers its newest rows:
        where they do not all fit, read back from end and keep those not before start."""
        start, end, newest = self._newest_in(start, end)
        if newest and not _fits(interval, start, end, limit):
            return [row for row in read(None, end) if start is None or open_time(row) >= start]
        # Every row of the window fits the limit: the same rows, read from its start.
        return read(start, end)

    # ---------------------------------------------------------------- endpoints
    async def exchange_info(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/exchangeInfo: every contract listed by now."""
        now_ms = self.market.clock.now_ms()
        symbols = []
        for spec in self.market.specs():
            if not self.market.is_listed(spec.symbol):
                continue
            status = spec.status
            if status == "TRADING" and not self.market.trading_minute(spec.symbol, now_ms):
                status = "SETTLING"
            info = coin_symbol_info if self.venue.coin_margined else symbol_info
            symbols.append(info(spec, status))
        quotes = sorted({s["marginAsset"] for s in symbols})
        return json_response(
            {
                "timezone": "UTC",
                "serverTime": now_ms,
                **({} if self.venue.coin_margined else {"futuresType": "U_MARGINED"}),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": int(self.limiter.window // 60) or 1,
                        "limit": self.limiter.limit,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 1200,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "SECOND",
                        "intervalNum": 10,
                        "limit": 300,
                    },
                ],
                "exchangeFilters": [],
                "assets": [
                    {"asset": q, "marginAvailable": True, "autoAssetExchange": "-10000"}
                    for q in quotes
                ],
                "symbols": symbols,
            }
        )

    async def klines(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/klines: trade klines, the running one included."""
        return self._trade_klines(self._contract(request), request)

    async def continuous_klines(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/continuousKlines: a pair's contract of one type (the fake has
        perpetuals only: a quarterly is an unknown symbol)."""
        pair = self._contract(request, "pair")
        kind = _mandatory(request, "contractType").upper()
        if kind not in CONTRACT_TYPES:
            raise ApiError(400, -1100, "Illegal characters found in parameter 'contractType'.")
        if kind != "PERPETUAL":
            raise ApiError(400, -1121, "Invalid symbol.")
        return self._trade_klines(pair, request)

    def _trade_klines(self, symbol: str, request: web.Request) -> web.Response:
        interval, start, end, limit = self._window(request)
        spec = self.market.spec(symbol)
        rows = self._rows(
            lambda a, b: self.market.klines(symbol, interval, a, b, limit),
            lambda k: k.open_time,
            interval,
            start,
            end,
            limit,
        )
        return json_response([trade_kline_row(k, spec) for k in rows])

    def price_klines(self, kind: str, param: str) -> Handler:
        """GET /fapi/v1/{markPrice,indexPrice,premiumIndex}Klines."""
        assert kind in KINDS

        async def handler(request: web.Request) -> web.Response:
            symbol = self._contract(request, param)
            interval, start, end, limit = self._window(request)
            now_ms = self.market.clock.now_ms()
            rows = self._rows(
                lambda a, b: self.prices.klines(symbol, kind, interval, a, b, limit, now_ms),
                lambda row: row[0],
                interval,
                start,
                end,
                limit,
            )
            return json_response([price_kline_row(*row) for row in rows])

        return handler

    async def funding_rate(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/fundingRate: funding history, oldest first; with startTime the first
        ``limit`` from it, else the newest ``limit`` up to endTime (default now)."""
        one = request.query.get("symbol")
        if self.venue.coin_margined and not one:
            # COIN-M's symbol is mandatory.
            _mandatory(request, "symbol")
        symbols = [self._contract(request)] if one else self.market.symbols
        start, end = _int(request, "startTime"), _int(request, "endTime")
        if start is not None and end is not None and start > end:
            raise ApiError(400, -1023, "Start time is greater than end time.")
        limit = min(_int(request, "limit") or FUNDING_DEFAULT, FUNDING_MAX)
        now_ms = self.market.clock.now_ms()
        upper = now_ms if end is None else min(end, now_ms)
        # Enough periods back for the newest `limit` without a start.
        lower = start if start is not None else upper - (limit + 1) * FUNDING_PERIOD_MS
        rows = sorted(
            (at, symbol, rate, mark)
            for symbol in symbols
            if self.market.is_listed(symbol)
            for at, rate, mark in self.prices.funding(symbol, max(lower, 0), upper)
        )
        rows = rows[:limit] if start is not None else rows[-limit:]
        return json_response(
            [
                {
                    "symbol": symbol,
                    "fundingTime": at,
                    "fundingRate": fmt8(rate),
                    "markPrice": fmt8(mark),
                }
                for at, symbol, rate, mark in rows
            ]
        )

    async def premium_index(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/premiumIndex: mark and index price now, the last and next funding."""
        one = request.query.get("symbol")
        symbols = [self._contract(request)] if one else self.market.symbols
        now_ms = self.market.clock.now_ms()
        out = []
        for symbol in symbols:
            if not self.market.is_listed(symbol):
                continue
            [mark] = self.prices.klines(symbol, "markPrice", "1m", None, now_ms, 1, now_ms)
            [index] = self.prices.klines(symbol, "indexPrice", "1m", None, now_ms, 1, now_ms)
            last = self.prices.funding(symbol, now_ms - FUNDING_PERIOD_MS, now_ms)
            spec = self.market.spec(symbol)
            out.append(
                {
                    "symbol": symbol,
                    **({"pair": pair_of(spec)} if self.venue.coin_margined else {}),
                    "markPrice": fmt8(mark[4]),
                    "indexPrice": fmt8(index[4]),
                    "estimatedSettlePrice": fmt8(index[4]),
                    "lastFundingRate": fmt8(last[-1][1]) if last else "0.00000000",
                    "interestRate": "0.00010000",
                    "nextFundingTime": (now_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS,
                    "time": now_ms,
                }
            )
        return json_response(out[0] if one else out)


def _fits(interval: str, start: int | None, end: int | None, limit: int) -> bool:
    """Do the window's rows (at most one per interval from start to end) fit the limit?"""
    if start is None or end is None:
        return False
    minutes = INTERVAL_MINUTES.get(interval, 28 * DAY_MIN)
    return (end - start) // 60_000 // minutes + 1 <= limit


def price_kline_row(
    open_time: int, o: int, h: int, lo: int, c: int, close_time: int, samples: int
) -> list:
    """A mark, index or premium kline as Binance writes it: the series' OHLC, no volumes,
    column 8 the price samples behind it."""
    volume = quote = taker = taker_quote = ignore = "0"
    return [
        open_time, fmt8(o), fmt8(h), fmt8(lo), fmt8(c), volume,
        close_time, quote, samples, taker, taker_quote, ignore,
    ]  # fmt: skip


def trade_kline_row(k: Kline, spec: SymbolSpec) -> list:
    """A trade kline as /fapi/v1/klines writes it: prices to the tick, quantities to the step,
    quote volumes to both (BTCUSDT's `"57212.69"`, `"496.263"`, `"28425514.78940"`); as
    /dapi/v1/klines does, contracts and the base asset's volume at 8 decimals (`"206"`,
    `"2.13660389"`)."""
    price_decimals, qty_decimals = spec.price_decimals, spec.qty_decimals
    quote = quote_decimals(spec)
    return [
        k.open_time,
        places(k.open, price_decimals),
        places(k.high, price_decimals),
        places(k.low, price_decimals),
        places(k.close, price_decimals),
        places(k.volume, qty_decimals),
        k.close_time,
        places(k.quote_volume, quote),
        k.trade_count,
        places(k.taker_buy_volume, qty_decimals),
        places(k.taker_buy_quote_volume, quote),
        "0",
    ]


__all__ = [
    "COINM_VENUE",
    "FUTURES_INTERVALS",
    "USDM_VENUE",
    "FuturesRestApi",
    "Venue",
    "kline_weight",
    "price_kline_row",
    "trade_kline_row",
]
