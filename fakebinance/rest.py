"""REST side of the fake: /api/v3 market-data endpoints with Binance's JSON and errors."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Container

import orjson
from aiohttp import web

from fakebinance.clock import to_us
from fakebinance.market import Market
from fakebinance.market.intervals import INTERVALS
from fakebinance.market.records import AggArrays, TradeArrays
from fakebinance.market.units import HOUR_US, fmt8
from fakebinance.ratelimit import Verdict, WeightLimiter, request_weight
from fakebinance.tickers import FULL, MINI, DayTickers

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ALLOWED_PARAMS = {
    "/api/v3/ping": set(),
    "/api/v3/time": set(),
    "/api/v3/exchangeInfo": {
        "symbol",
        "symbols",
        "permissions",
        "showPermissionSets",
        "symbolStatus",
    },
    "/api/v3/klines": {"symbol", "interval", "startTime", "endTime", "limit", "timeZone"},
    "/api/v3/aggTrades": {"symbol", "fromId", "startTime", "endTime", "limit"},
    "/api/v3/historicalTrades": {"symbol", "fromId", "limit"},
    "/api/v3/trades": {"symbol", "limit"},
    "/api/v3/ticker/24hr": {"symbol", "symbols", "type", "symbolStatus"},
}


class ApiError(Exception):
    """A Binance-style error: HTTP status plus {"code", "msg"} body."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """orjson-encoded JSON response."""
    return web.Response(
        status=status, body=orjson.dumps(payload), headers=headers, content_type="application/json"
    )


def _mandatory(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise ApiError(
            400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def kline_span(
    request: web.Request, intervals: Container[str]
) -> tuple[str, int | None, int | None]:
    """A klines request's interval (one of ``intervals``), startTime and endTime."""
    interval = _mandatory(request, "interval")
    if interval not in intervals:
        raise ApiError(400, -1120, "Invalid interval.")
    start, end = _int(request, "startTime"), _int(request, "endTime")
    if start is not None and end is not None and start > end:
        raise ApiError(400, -1023, "Start time is greater than end time.")
    return interval, start, end


def _int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal "
            "range is '^(-)?[0-9]{1,20}$'.",
        ) from None


def _limit(request: web.Request, default: int = 500, cap: int = 1000) -> int:
    value = _int(request, "limit")
    if value is None:
        return default
    if value <= 0:
        raise ApiError(
            400,
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
        )
    return min(value, cap)


def refusal(verdict: Verdict, ip: str, limit: int, now_ms: int) -> web.Response | None:
    """Binance's answer to a request over the IP's weight (429) or while banned (418); None
    when it may run."""
    if verdict.status == 429:
        msg = (
            f"Too many requests; current limit of IP({ip}) request weight per minute is "
            f"{limit}. Please use WebSocket Streams for live updates to avoid polling the API."
        )
    elif verdict.status == 418:
        msg = (
            f"Way too many requests; IP({ip}) banned until "
            f"{now_ms + verdict.retry_after * 1000}. Please use WebSocket Streams for live "
            "updates to avoid bans."
        )
    else:
        return None
    return json_response({"code": -1003, "msg": msg}, verdict.status, verdict.headers)


def check_params(request: web.Request, allowed: set[str] | None) -> None:
    """-1104 for a parameter the endpoint does not read (None: any is read)."""
    if allowed is None:
        return
    extra = [k for k in request.query if k not in allowed]
    if extra:
        raise ApiError(
            400,
            -1104,
            f"Not all sent parameters were read; read "
            f"'{len(request.query) - len(extra)}' parameter(s) but was "
            f"sent '{len(request.query)}'.",
        )


# A price, quantity or quote quantity (an int in 1e-8 units) as the market prints it.
Format = Callable[[int], str]
Formats = tuple[Format, Format, Format]


class ClockEndpoints:
    """What every venue's API answers alike: ping, and the time by the market's clock."""

    market: Market

    async def ping(self, request: web.Request) -> web.Response:
        """GET <prefix>/ping."""
        return json_response({})

    async def time(self, request: web.Request) -> web.Response:
        """GET <prefix>/time (market clock)."""
        return json_response({"serverTime": self.market.clock.now_ms()})


class RestApi(ClockEndpoints):
    """Handlers for /api/v3/*; weight is charged by ``middleware``."""

    def __init__(self, market: Market, limiter: WeightLimiter) -> None:
        self.market = market
        self.limiter = limiter
        # A fault: the next answers of exchangeInfo come without a usable "symbols" ("missing":
        # no such key, "null": null, "empty": []), as a real exchange's partial answers do.
        self.exchange_info_fault: str | None = None
        self.exchange_info_faulty_answers = 0
        # A fault: the next answers of klines are empty (a partial answer, as a real exchange
        # gives now and then), though the market has the klines.
        self.empty_klines_answers = 0
        # REST requests admitted per path (how a client spent its weight, for tests).
        self.requests: collections.Counter[str] = collections.Counter()
        self.day_tickers = DayTickers(market)

    def break_exchange_info(self, mode: str, answers: int) -> None:
        """The next ``answers`` exchangeInfo answers come with "symbols" ``mode``."""
        if mode not in ("missing", "null", "empty"):
            raise ValueError("mode must be missing, null or empty")
        self.exchange_info_fault, self.exchange_info_faulty_answers = mode, answers

    def routes(self) -> list[web.RouteDef]:
        """aiohttp route table."""
        return [
            web.get("/api/v3/ping", self.ping),
            web.get("/api/v3/time", self.time),
            web.get("/api/v3/exchangeInfo", self.exchange_info),
            web.get("/api/v3/klines", self.klines),
            web.get("/api/v3/aggTrades", self.agg_trades),
            web.get("/api/v3/historicalTrades", self.historical_trades),
            web.get("/api/v3/trades", self.recent_trades),
            web.get("/api/v3/ticker/24hr", self.ticker_24hr),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Charge weight, answer 429/418, add used-weight headers, map errors to JSON."""
        path = request.path
        if not path.startswith("/api/"):
            return await handler(request)
        ip = request.remote or "?"
        verdict = self.limiter.check(ip, request_weight(path, request.query))
        refused = refusal(verdict, ip, self.limiter.limit, self.market.clock.now_ms())
        if refused is not None:
            return refused
        self.requests[path] += 1
        try:
            check_params(request, ALLOWED_PARAMS.get(path))
            response = await handler(request)
        except ApiError as exc:
            response = json_response({"code": exc.code, "msg": exc.msg}, exc.status)
        except web.HTTPException as exc:
            response = json_response({"code": -1000, "msg": exc.reason}, exc.status)
        response.headers.update(verdict.headers)
        return response

    def _symbol(self, request: web.Request) -> str:
        symbol = _mandatory(request, "symbol").upper()
        if not self.market.is_listed(symbol):
            raise ApiError(400, -1121, "Invalid symbol.")
        return symbol

    async def exchange_info(self, request: web.Request) -> web.Response:
        """GET /api/v3/exchangeInfo with optional symbol / symbols filter."""
        now_us = self.market.clock.now_us()
        wanted: list[str] | None = None
        if request.query.get("symbol"):
            wanted = [request.query["symbol"].upper()]
        elif request.query.get("symbols"):
            wanted = self._symbols_param(request, now_us)
        if wanted is not None:
            for s in wanted:
                if not self.market.is_listed(s, now_us):
                    raise ApiError(400, -1121, "Invalid symbol.")
        specs = [
            s
            for s in self.market.specs()
            if to_us(s.listed_at) <= now_us and (wanted is None or s.symbol in wanted)
        ]
        status_filter = request.query.get("symbolStatus")
        symbols = []
        for spec in specs:
            status = spec.status
            if status == "TRADING" and not self.market.trading_minute(spec.symbol, now_us // 1000):
                status = "BREAK"
            if status_filter and status != status_filter:
                continue
            symbols.append(_symbol_info(spec, status))
        return json_response(
            {
                "timezone": "UTC",
                "serverTime": now_us // 1000,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        **_interval(self.limiter.window),
                        "limit": self.limiter.limit,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "SECOND",
                        "intervalNum": 10,
                        "limit": 100,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "DAY",
                        "intervalNum": 1,
                        "limit": 200000,
                    },
                    {
                        "rateLimitType": "RAW_REQUESTS",
                        "interval": "MINUTE",
                        "intervalNum": 5,
                        "limit": 61000,
                    },
                ],
                "exchangeFilters": [],
                **self._symbols_part(symbols),
            }
        )

    def _symbols_part(self, symbols: list[dict]) -> dict:
        """{"symbols": [...]}, or the broken form a fault asks for."""
        if self.exchange_info_faulty_answers <= 0:
            return {"symbols": symbols}
        self.exchange_info_faulty_answers -= 1
        return {"missing": {}, "null": {"symbols": None}, "empty": {"symbols": []}}[
            self.exchange_info_fault or "missing"
        ]

    async def klines(self, request: web.Request) -> web.Response:
        """GET /api/v3/klines (includes the current unfinished kline)."""
        symbol = self._symbol(request)
        interval, start, end = kline_span(request, INTERVALS)
        if self.empty_klines_answers > 0:
            self.empty_klines_answers -= 1
            return json_response([])
        if interval == "1m" and start is not None:
            # The backfill's request: served from cached encoded rows, the same bytes.
            body = self.market.klines_1m_json(symbol, start, end, _limit(request))
            return web.Response(body=body, content_type="application/json")
        rows = self.market.klines(symbol, interval, start, end, _limit(request))
        return json_response([k.to_rest_row() for k in rows])

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        """GET /api/v3/ticker/24hr: one symbol (an object), ``symbols`` or all (a list)."""
        kind = request.query.get("type", "FULL")
        if kind not in ("FULL", "MINI"):
            raise ApiError(
                400,
                -1100,
                "Illegal characters found in parameter 'type'; legal range is 'FULL, MINI'.",
            )
        now_us = self.market.clock.now_us()
        if request.query.get("symbol") and request.query.get("symbols"):
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        one = request.query.get("symbol")
        if one:
            wanted = [self._symbol(request)]
        elif request.query.get("symbols"):
            wanted = self._symbols_param(request, now_us)
        else:
            wanted = [s.symbol for s in self.market.specs() if to_us(s.listed_at) <= now_us]
        # The first answer for a symbol costs its day of trades: off the loop, which feeds the
        # WebSocket clients.
        rows = await asyncio.to_thread(
            self.day_tickers.answer, wanted, now_us, FULL if kind == "FULL" else MINI
        )
        return json_response(rows[0] if one else rows)

    def _symbols_param(self, request: web.Request, now_us: int) -> list[str]:
        """``symbols=["A","B"]``: -1100 when malformed, -1121 for one not listed."""
        try:
            wanted = [str(s).upper() for s in orjson.loads(request.query["symbols"])]
        except (orjson.JSONDecodeError, TypeError):
            raise ApiError(
                400,
                -1100,
                "Illegal characters found in parameter 'symbols'; "
                'legal range is \'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}'
                "\"){0,}){0,1}\\]$'.",
            ) from None
        for s in wanted:
            if not self.market.is_listed(s, now_us):
                raise ApiError(400, -1121, "Invalid symbol.")
        return wanted

    async def agg_trades(self, request: web.Request) -> web.Response:
        """GET /api/v3/aggTrades by fromId, by time window (<= 1 h), or most recent."""
        symbol = self._symbol(request)
        limit = _limit(request)
        from_id = _int(request, "fromId")
        start, end = _int(request, "startTime"), _int(request, "endTime")
        now_us = self.market.clock.now_us()
        if from_id is not None:
            arr = self.market.agg_trades_from_id(symbol, from_id, limit, now_us)
        elif start is not None or end is not None:
            if start is not None and end is not None:
                if end < start:
                    raise ApiError(400, -1023, "Start time is greater than end time.")
                if end - start > 3_600_000:
                    raise ApiError(400, -1127, "More than 1 hours between startTime and endTime.")
            lo = start * 1000 if start is not None else end * 1000 - HOUR_US
            hi = (end + 1) * 1000 if end is not None else start * 1000 + HOUR_US + 1000
            arr = self.market.agg_arrays(symbol, max(lo, 0), min(hi, now_us + 1))
            arr = AggArrays(*(col[:limit] for col in arr))
        else:
            last = self.market.last_agg_id_before(symbol, now_us + 1)
            arr = (
                self.market.agg_trades_from_id(
                    symbol, max(0, (last or 0) - limit + 1), limit, now_us
                )
                if last is not None
                else self.market.agg_trades_from_id(symbol, 0, 0, now_us)
            )
        return json_response(_agg_json(arr, *self.formats(symbol)))

    async def historical_trades(self, request: web.Request) -> web.Response:
        """GET /api/v3/historicalTrades (fromId, or the most recent)."""
        symbol = self._symbol(request)
        limit = _limit(request)
        from_id = _int(request, "fromId")
        return json_response(
            _trades_json(self._trades(symbol, from_id, limit), self.formats(symbol))
        )

    async def recent_trades(self, request: web.Request) -> web.Response:
        """GET /api/v3/trades: the most recent trades."""
        symbol = self._symbol(request)
        trades = self._trades(symbol, None, _limit(request))
        return json_response(_trades_json(trades, self.formats(symbol)))

    def formats(self, symbol: str) -> Formats:
        """How a trade's price, quantity and quote quantity are printed: spot's 8 decimals."""
        return fmt8, fmt8, fmt8

    def _trades(self, symbol: str, from_id: int | None, limit: int) -> TradeArrays:
        now_us = self.market.clock.now_us()
        if from_id is None:
            last = self.market.last_trade_before(symbol, now_us + 1)
            if last is None:
                return self.market.trades_from_id(symbol, 0, 0, now_us)
            from_id = max(0, last.id - limit + 1)
        return self.market.trades_from_id(symbol, from_id, limit, now_us)


def _interval(seconds: float) -> dict:
    seconds = int(seconds)
    for name, size in (("DAY", 86_400), ("HOUR", 3_600), ("MINUTE", 60)):
        if seconds % size == 0:
            return {"interval": name, "intervalNum": seconds // size}
    return {"interval": "SECOND", "intervalNum": seconds}


def _symbol_info(spec, status: str) -> dict:
    return {
        "symbol": spec.symbol,
        "status": status,
        "baseAsset": spec.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": f"{spec.tick_size:.8f}",
                "maxPrice": "1000000.00000000",
                "tickSize": f"{spec.tick_size:.8f}",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": f"{spec.step_size:.8f}",
                "maxQty": "9000000000.00000000",
                "stepSize": f"{spec.step_size:.8f}",
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
    }


def _trades_json(a: TradeArrays, formats: Formats) -> list[dict]:
    price, qty, quote = formats
    return [
        {
            "id": i,
            "price": price(p),
            "qty": qty(q),
            "quoteQty": quote(qq),
            "time": t // 1000,
            "isBuyerMaker": m,
            "isBestMatch": True,
        }
        for i, p, q, qq, t, m in zip(*(column.tolist() for column in a), strict=True)
    ]


def _agg_json(a: AggArrays, price: Format, qty: Format, _quote: Format) -> list[dict]:
    return [
        {"a": i, "p": price(p), "q": qty(q), "f": f, "l": last, "T": t // 1000, "m": m, "M": True}
        for i, p, q, f, last, t, m in zip(*(column.tolist() for column in a), strict=True)
    ]
