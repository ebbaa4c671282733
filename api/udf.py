"""The TradingView UDF datafeed: /udf/config, /udf/symbols, /udf/search, /udf/history, /udf/time.

Prices go out as JSON numbers written from the exact decimal strings, never through a float.
Each futures market of MARKETS is in the same feed under the names TradingView gives Binance's
contracts: a USDⓈ-M perpetual as ``BTCUSDT.P``, a COIN-M contract as Binance names it
(``BTCUSD_PERP``: no spot symbol has an underscore).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from api.binance import SYMBOL_RE, json_response
from api.klines import KlinesRequest, fetch_klines
from api.market_reads import SymbolInfo
from api.symbols import SymbolCache
from include.platform.intervals import UnknownGrid, bucket_end

# TradingView's resolutions (minutes, or D/W/M with a count) and the interval each is.
RESOLUTIONS = {
    "1S": "1s",
    "1": "1m",
    "3": "3m",
    "5": "5m",
    "15": "15m",
    "30": "30m",
    "60": "1h",
    "120": "2h",
    "240": "4h",
    "360": "6h",
    "480": "8h",
    "720": "12h",
    "1D": "1d",
    "D": "1d",
    "3D": "3d",
    "1W": "1w",
    "W": "1w",
    "1M": "1M",
    "M": "1M",
}
INTRADAY = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "480", "720")
SUPPORTED = [*INTRADAY, *("1D", "3D", "1W", "1M")]
MAX_BARS = 5_000
PAGE = 1000
# TradingView's suffix for a Binance USDⓈ-M perpetual (BINANCE:BTCUSDT.P).
PERPETUAL = ".P"


@dataclass(frozen=True)
class Contract:
    """A UDF name resolved: the name the chart uses, the market's symbol and its market."""

    name: str
    symbol: str
    market: str
    symbols: SymbolCache

    @property
    def futures(self) -> bool:
        return self.market != "spot"


def filter_value(info: SymbolInfo | None, kind: str, field: str) -> Decimal | None:
    """A decimal of one of exchangeInfo's filters (tickSize of PRICE_FILTER, ...), if known."""
    for f in (info.filters or []) if info is not None else []:
        if isinstance(f, dict) and f.get("filterType") == kind:
            try:
                value = Decimal(str(f[field]))
            except (KeyError, InvalidOperation):
                return None
            return value if value > 0 else None
    return None


def decimals(step: Decimal | None, default: int = 8) -> int:
    """Decimal places of a tick or step size (0.01 -> 2, 1 -> 0, 10 -> 0)."""
    if step is None:
        return default
    return max(0, -int(step.normalize().as_tuple().exponent))


def _symbol_info(
    symbol: str, info: SymbolInfo | None = None, seconds: bool = False, market: str = "spot"
) -> dict:
    """TradingView's symbol info; the price scale follows Binance's tick size when exchangeInfo
    was read (0.01 -> pricescale 100, minmov 1; 10 -> pricescale 1, minmov 10), else 8 places.
    ``seconds``: the symbol has 1s candles (SECOND_CANDLE_SYMBOLS), resolution 1S."""
    tick = filter_value(info, "PRICE_FILTER", "tickSize")
    pricescale = 10 ** decimals(tick)
    minmov = int(tick * pricescale) if tick is not None else 1
    return {
        "name": symbol,
        "ticker": symbol,
        "description": symbol if market == "spot" else f"{symbol} ({market} futures)",
        "type": "crypto" if market == "spot" else "futures",
        "session": "24x7",
        "exchange": "BINANCE",
        "listed_exchange": "BINANCE",
        "timezone": "Etc/UTC",
        "format": "price",
        "minmov": minmov,
        "pricescale": pricescale,
        "has_intraday": True,
        "has_daily": True,
        "has_weekly_and_monthly": True,
        "supported_resolutions": ["1S", *SUPPORTED] if seconds else SUPPORTED,
        "has_seconds": seconds,
        "seconds_multipliers": ["1"] if seconds else [],
        # Every multiple the feed serves as Binance builds it: a chart never builds its own 3D
        # out of 1D bars (Binance's 3d grid is each symbol's own, from its first day).
        "intraday_multipliers": list(INTRADAY),
        "daily_multipliers": ["1", "3"],
        "weekly_multipliers": ["1"],
        "monthly_multipliers": ["1"],
        "volume_precision": decimals(filter_value(info, "LOT_SIZE", "stepSize")),
        "data_status": "streaming",
    }


class Udf:
    """Handlers over the klines query and the symbol cache."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        symbols: SymbolCache,
        futures: Mapping[str, SymbolCache] | None = None,
    ) -> None:
        self.pool = pool
        self.symbols = symbols
        # Each futures market of MARKETS: its symbol cache, by market name.
        self.futures = dict(futures or {})

    def resolve(self, raw: str) -> Contract | None:
        """A UDF symbol (``BTCUSDT``, ``BINANCE:BTCUSDT.P``, ``BTCUSD_PERP``) as a market's
        symbol; None when malformed or of a market not run."""
        name = raw.split(":")[-1].strip().upper()
        if name.endswith(PERPETUAL) and "usdm" in self.futures:
            symbol = name.removesuffix(PERPETUAL)
            market = "usdm"
        elif "_" in name and "coinm" in self.futures:
            symbol, market = name, "coinm"
        else:
            symbol, market = name, "spot"
        if not SYMBOL_RE.match(symbol):
            return None
        cache = self.symbols if market == "spot" else self.futures[market]
        return Contract(name, symbol, market, cache)

    def udf_name(self, market: str, symbol: str) -> str:
        """The name the chart knows a market's symbol by."""
        return symbol + PERPETUAL if market == "usdm" else symbol

    async def config(self, request: Request) -> Response:
        """GET /udf/config."""
        return json_response(
            {
                "supported_resolutions": SUPPORTED,
                "supports_group_request": False,
                "supports_marks": False,
                "supports_search": True,
                "supports_timescale_marks": False,
                "supports_time": True,
                "exchanges": [
                    {
                        "value": "BINANCE",
                        "name": "Binance",
                        "desc": "Binance spot" + (" and futures" if self.futures else ""),
                    }
                ],
                "symbols_types": [{"name": "crypto", "value": "crypto"}],
            }
        )

    async def time(self, request: Request) -> Response:
        """GET /udf/time: server time in seconds, as plain text."""
        return PlainTextResponse(str(int(time.time())))

    async def symbols_info(self, request: Request) -> Response:
        """GET /udf/symbols?symbol=."""
        found = self.resolve(request.query_params.get("symbol", ""))
        if found is None or not await found.symbols.has(found.symbol):
            return json_response({"s": "error", "errmsg": "unknown_symbol"})
        seconds = not found.futures and found.symbol in self.symbols.second_symbols
        info = found.symbols.info.get(found.symbol)
        return json_response(_symbol_info(found.name, info, seconds, found.market))

    async def search(self, request: Request) -> Response:
        """GET /udf/search?query=&type=&exchange=&limit=."""
        query = request.query_params.get("query", "").upper()
        try:
            limit = max(1, min(int(request.query_params.get("limit", "30")), 1000))
        except ValueError:
            limit = 30
        held = [("spot", s) for s in await self.symbols.all()]
        for market, cache in self.futures.items():
            held += [(market, s) for s in await cache.all()]
        names = [(m, self.udf_name(m, s)) for m, s in held]
        found = [(m, n) for m, n in names if query in n][:limit]
        return json_response(
            [
                {
                    "symbol": n,
                    "full_name": f"BINANCE:{n}",
                    "description": n,
                    "exchange": "BINANCE",
                    "ticker": n,
                    "type": "crypto" if m == "spot" else "futures",
                }
                for m, n in found
            ]
        )

    async def history(self, request: Request) -> Response:
        """GET /udf/history?symbol=&resolution=&from=&to=[&countback=]."""
        q = request.query_params
        found = self.resolve(q.get("symbol", ""))
        interval = RESOLUTIONS.get(q.get("resolution", ""))
        try:
            start_s = int(q.get("from", "0"))
            end_s = int(q.get("to", str(int(time.time()))))
            countback = int(q["countback"]) if q.get("countback") else None
        except ValueError:
            return JSONResponse({"s": "error", "errmsg": "bad from/to/countback"}, 400)
        if found is None or not await found.symbols.has(found.symbol):
            return JSONResponse({"s": "error", "errmsg": "unknown_symbol"}, 400)
        if interval is None or (found.futures and interval == "1s"):
            return JSONResponse({"s": "error", "errmsg": "unsupported resolution"}, 400)
        symbol, market = found.symbol, found.market
        try:
            grid = found.symbols.grid(symbol, interval)
        except UnknownGrid as exc:
            return JSONResponse({"s": "error", "errmsg": f"unsupported resolution: {exc}"}, 400)
        # UDF asks for bars with from <= time < to.
        end_ms = end_s * 1000 - 1
        async with self.pool.connection() as conn:
            if countback:
                req = KlinesRequest(
                    symbol, interval, None, end_ms, min(countback, MAX_BARS), grid, market
                )
                rows = await fetch_klines(conn, req)
            else:
                rows = []
                cursor = start_s * 1000
                while len(rows) < MAX_BARS and cursor <= end_ms:
                    page = await fetch_klines(
                        conn, KlinesRequest(symbol, interval, cursor, end_ms, PAGE, grid, market)
                    )
                    rows.extend(page)
                    if len(page) < PAGE:
                        break
                    cursor = bucket_end(interval, page[-1][0])
            if not rows:
                before = await fetch_klines(
                    conn,
                    KlinesRequest(symbol, interval, None, start_s * 1000 - 1, 1, grid, market),
                )
                body = {"s": "no_data"}
                if before:
                    body["nextTime"] = before[0][0] // 1000
                return json_response(body)
        parts = [
            '{"s":"ok","t":[',
            ",".join(str(r[0] // 1000) for r in rows),
        ]
        for key, index in (("o", 1), ("h", 2), ("l", 3), ("c", 4), ("v", 5)):
            parts.append(f'],"{key}":[')
            parts.append(",".join(r[index] for r in rows))
        parts.append("]}")
        return Response("".join(parts), media_type="application/json")
