"""Binance's tickers from our own candles: /api/v3/ticker/price, /api/v3/ticker/24hr,
/api/v3/ticker (rolling windowSize) and /api/v3/avgPrice.

The candles are minutes, so every window starts on a minute, as Binance's rolling ticker's
does ("openTime always starts on a minute, closeTime is the current time of the request"), and
holds every trade from there to the newest candle. There is no order book here: the 24hr
ticker's bid and ask are the last price with zero quantity, its lastQty zero (docs/api.md).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import Response

from api.binance import BinanceError, json_response, symbol_param, symbols_param
from api.market_reads import fetch_prices, fetch_window_stats
from api.symbols import SymbolCache
from include.platform.intervals import bucket_start
from include.platform.markets import SPOT, Market
from include.platform.times import DAY_MS, MINUTE_MS

AVG_PRICE_MINS = 5
MAX_SYMBOLS = 100
WINDOW_RE = re.compile(r"^([1-9][0-9]?)([mhd])$")
WINDOW_UNIT_MS = {"m": MINUTE_MS, "h": 60 * MINUTE_MS, "d": DAY_MS}
# Binance's ranges: 1m..59m, 1h..23h, 1d..7d; units are never combined.
WINDOW_MAX = {"m": 59, "h": 23, "d": 7}
ZERO = "0.00000000"
# Ticker answers held at most (past it, the expired ones are dropped).
MAX_CACHED = 1000


def window_ms(query: Mapping[str, str]) -> int:
    """windowSize in milliseconds (default 1d; -1100 when not one Binance takes)."""
    value = query.get("windowSize", "1d")
    m = WINDOW_RE.match(value)
    if m is None or int(m.group(1)) > WINDOW_MAX[m.group(2)]:
        raise BinanceError(400, -1100, "Invalid windowSize.")
    return int(m.group(1)) * WINDOW_UNIT_MS[m.group(2)]


def ticker_type(query: Mapping[str, str]) -> str:
    """FULL (the default) or MINI (-1100 otherwise)."""
    value = query.get("type", "FULL")
    if value not in ("FULL", "MINI"):
        raise BinanceError(
            400, -1100, "Illegal characters found in parameter 'type'; legal range is 'FULL, MINI'."
        )
    return value


def window_start(now_ms: int, size_ms: int) -> int:
    """Binance's rolling window opens on the minute holding now - size."""
    return bucket_start("1m", now_ms - size_ms)


class Tickers:
    """The ticker handlers and what they share (the pool, the symbol cache)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        symbols: SymbolCache,
        ttl: float = 1.0,
        market: Market = SPOT,
    ) -> None:
        self.pool = pool
        self.symbols = symbols
        # Whose candles: spot's, or a futures market's (its /fapi or /dapi tickers).
        self.market = market
        # Answers over many symbols, served again for ``ttl`` seconds (Binance refreshes its own
        # tickers about as often) and computed once however many ask at the same time: one
        # all-symbol 24hr ticker reads every symbol's 1,440 minutes.
        self.ttl = ttl
        self.answers: dict[tuple, tuple[float, asyncio.Future]] = {}

    async def _shared(self, key: tuple, compute: Callable[[], Awaitable[list[dict]]]) -> list:
        """``compute()``'s answer, shared by the requests for ``key`` within ``ttl``."""
        now = time.monotonic()
        held = self.answers.get(key)
        if held is not None and (now - held[0] < self.ttl or not held[1].done()):
            return await asyncio.shield(held[1])
        if len(self.answers) > MAX_CACHED:
            self.answers = {k: v for k, v in self.answers.items() if now - v[0] < self.ttl}
        future = asyncio.ensure_future(compute())
        self.answers[key] = (now, future)
        try:
            return await asyncio.shield(future)
        except Exception:
            self.answers.pop(key, None)
            raise

    async def _wanted(self, query: Mapping[str, str], *, required: bool = False) -> list[str]:
        """The symbols asked for: ``symbol``, ``symbols=[...]`` or (unless required) all held."""
        if query.get("symbol") and query.get("symbols"):
            raise BinanceError(400, -1128, "Combination of optional parameters invalid.")
        if query.get("symbol"):
            wanted = [symbol_param(query)]
        elif query.get("symbols"):
            wanted = symbols_param(query)
            if len(wanted) > MAX_SYMBOLS:
                raise BinanceError(
                    400,
                    -1101,
                    f"Too many values sent for parameter 'symbols', max allowed is {MAX_SYMBOLS}.",
                )
        elif required:
            raise BinanceError(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        else:
            return list(await self.symbols.all())
        for symbol in wanted:
            await self.symbols.require(symbol)
        return wanted

    @staticmethod
    def _answer(query: Mapping[str, str], rows: list[dict]) -> Response:
        """An object for ``symbol``, a list otherwise (-1121 when the one symbol has no candle)."""
        if query.get("symbol"):
            if not rows:
                return json_response({"code": -1121, "msg": "Invalid symbol."}, 400)
            return json_response(rows[0])
        return json_response(rows)

    async def price(self, request: Request) -> Response:
        """GET /api/v3/ticker/price: the latest price (the newest minute's close) of one
        symbol (an object), of ``symbols=[...]`` or of every symbol with a candle (a list)."""
        q = request.query_params
        try:
            wanted = await self._wanted(q)
        except BinanceError as exc:
            return json_response(exc.body(), exc.status)
        async with self.pool.connection() as conn:
            prices = await fetch_prices(conn, wanted, self.market)
        if self.market.is_futures:
            # Futures' shape adds the time of the price (the request's, as Binance's moves).
            now = int(time.time() * 1000)
            return self._answer(q, [{"symbol": s, "price": p, "time": now} for s, p in prices])
        return self._answer(q, [{"symbol": s, "price": p} for s, p in prices])

    async def _stats(self, wanted: list[str], start_ms: int) -> list[dict]:
        async with self.pool.connection() as conn:
            return await fetch_window_stats(conn, wanted, start_ms, self.market)

    async def day(self, request: Request) -> Response:
        """GET /api/v3/ticker/24hr: FULL or MINI statistics of the last 24 hours."""
        q = request.query_params
        try:
            # Futures' 24hr ticker has one shape and no ``type``.
            kind = "FUTURES" if self.market.is_futures else ticker_type(q)
            wanted = await self._wanted(q)
        except BinanceError as exc:
            return json_response(exc.body(), exc.status)
        shape = {"FULL": FULL_24HR, "MINI": MINI, "FUTURES": FUTURES_24HR}[kind]
        rows = await self._shared(("24hr", shape, *wanted), lambda: self._tickers(shape, wanted))
        return self._answer(q, rows)

    async def _tickers(
        self, shape: tuple[str, ...], wanted: list[str], size: int = DAY_MS
    ) -> list[dict]:
        now = int(time.time() * 1000)
        start = window_start(now, size)
        return [ticker(shape, s, start, now) for s in await self._stats(wanted, start)]

    async def rolling(self, request: Request) -> Response:
        """GET /api/v3/ticker: FULL or MINI statistics of a windowSize (1m..7d)."""
        q = request.query_params
        try:
            size = window_ms(q)
            kind = ticker_type(q)
            wanted = await self._wanted(q, required=True)
        except BinanceError as exc:
            return json_response(exc.body(), exc.status)
        shape = FULL_ROLLING if kind == "FULL" else MINI
        rows = await self._shared(
            ("rolling", shape, size, *wanted), lambda: self._tickers(shape, wanted, size)
        )
        return self._answer(q, rows)

    async def avg_price(self, request: Request) -> Response:
        """GET /api/v3/avgPrice: the volume-weighted price of the last five minutes."""
        q = request.query_params
        try:
            symbol = symbol_param(q)
            await self.symbols.require(symbol)
        except BinanceError as exc:
            return json_response(exc.body(), exc.status)
        now = int(time.time() * 1000)
        stats = await self._stats([symbol], window_start(now, AVG_PRICE_MINS * MINUTE_MS))
        if not stats:
            return json_response({"code": -1121, "msg": "Invalid symbol."}, 400)
        s = stats[0]
        traded = s["trade_count"] > 0
        return json_response(
            {
                "mins": AVG_PRICE_MINS,
                "price": s["weighted_avg_price"] if traded else s["last_price"],
                "closeTime": last_trade_bound(s, now),
            }
        )


def last_trade_bound(s: dict, now_ms: int) -> int:
    """The last trade's time as the minutes tell it: its minute's end, or now in this minute."""
    if s["last_minute_ms"] is None:
        return now_ms
    return min(now_ms, s["last_minute_ms"] + MINUTE_MS - 1)


def _ids(s: dict) -> tuple[int, int]:
    """(firstId, lastId): spot trade ids have no holes, so the newest minute's last id and the
    count give both; -1 when nothing traded or the ids are not known (an official kline only)."""
    last = s["last_trade_id"]
    if s["trade_count"] == 0 or last is None:
        return -1, -1
    return last - s["trade_count"] + 1, last


# Binance's ticker shapes: which fields, in its order.
MINI = (
    "symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
    "openTime", "closeTime", "firstId", "lastId", "count",
)  # fmt: skip
FULL_ROLLING = (
    "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "openPrice", "highPrice",
    "lowPrice", "lastPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
    "lastId", "count",
)  # fmt: skip
FULL_24HR = (
    "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
    "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice",
    "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
    "lastId", "count",
)  # fmt: skip


# fapi's and dapi's 24hr ticker: no previous close, no book (docs/api.md).
FUTURES_24HR = (
    "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "lastPrice", "lastQty",
    "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime",
    "firstId", "lastId", "count",
)  # fmt: skip


def ticker(shape: tuple[str, ...], s: dict, start_ms: int, now_ms: int) -> dict:
    """One symbol's statistics (ticker_window.sql's row) in one of Binance's shapes. No order
    book here: bid and ask are the last price, their quantities and lastQty zero."""
    first_id, last_id = _ids(s)
    values = {
        "symbol": s["symbol"],
        "priceChange": s["price_change"],
        "priceChangePercent": s["price_change_percent"],
        "weightedAvgPrice": s["weighted_avg_price"],
        "prevClosePrice": s["prev_close_price"],
        "lastPrice": s["last_price"],
        "lastQty": ZERO,
        "bidPrice": s["last_price"],
        "bidQty": ZERO,
        "askPrice": s["last_price"],
        "askQty": ZERO,
        "openPrice": s["open_price"],
        "highPrice": s["high_price"],
        "lowPrice": s["low_price"],
        "volume": s["volume"],
        "quoteVolume": s["quote_volume"],
        "openTime": start_ms,
        "closeTime": now_ms,
        "firstId": first_id,
        "lastId": last_id,
        "count": s["trade_count"],
    }
    return {name: values[name] for name in shape}
