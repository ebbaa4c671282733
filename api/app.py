"""The ASGI application: routes, token check, metrics, and the lifetime of pool and listener."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import PoolTimeout
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from api import ws as ws_protocol
from api.binance import (
    BinanceError,
    json_response,
    klines_request,
    rest_row,
)
from api.config import ApiConfig
from api.errors import EXCEPTION_HANDLERS
from api.exchange_info import exchange_info, rate_limits
from api.futures import FuturesApi
from api.guard import SESSION_COOKIE, Guard, token_of
from api.klines import fetch_klines
from api.limits import WeightLimiter
from api.metrics import Metrics
from api.pools import make_pool
from api.push import Hub, Worker, listen
from api.symbols import SymbolCache, warm_symbols
from api.tickers import Tickers
from api.udf import Udf
from api.wire import WireMiddleware
from include.platform.intervals import UnknownGrid
from include.platform.markets import FUTURES

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


class Api:
    """Handlers and the state they share."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        # The live push's connections are its own: no request (a ticker over every symbol, a
        # flood of health checks) can take the one the push needs.
        self.push_pool = make_pool(config)
        # Each new one reads every market's symbol list once before it serves (warm_symbols).
        self.pool = make_pool(
            config, configure=functools.partial(warm_symbols, markets=config.markets)
        )
        self.weights = WeightLimiter(config.weight_limit)
        # The klines of the REST API and gRPC on connections of their own that use generic
        # plans: a statement's months are pruned from its parameters as it starts. Left to
        # choose, PostgreSQL re-plans the bounded newest-candles statement at every request
        # (about 2 ms, more than it then runs). Not for every statement: the tickers' generic
        # plans were 4x slower. No parallel workers either: a generic plan cannot tell a week of
        # live minutes from the few a request reads, and starting workers took 13 ms of a 1 ms
        # 1m request (analytics.candles_1m's live side, bench/api_bench.py).
        self.klines_pool = make_pool(
            config,
            "-c plan_cache_mode=force_generic_plan -c max_parallel_workers_per_gather=0",
            prepare_at_once=True,
        )
        self.symbols = SymbolCache(
            self.pool, config.symbols_ttl, config.second_symbols, config.configured_symbols
        )
        self.hub = Hub(
            self.push_pool,
            config.database_url,
            self.metrics,
            grid=self.symbols.grid,
            first_ms=self.symbols.first_ms,
        )
        self.push_worker = Worker(self.hub)
        self.udf = Udf(self.pool, self.symbols)
        # Tickers over many symbols and days read millions of minutes: connections of their own.
        self.tickers = Tickers(make_pool(config), self.symbols, config.ticker_cache_ttl)
        # gRPC's history on its own too, so neither door can starve the other.
        self.grpc_pool = make_pool(
            config,
            "-c plan_cache_mode=force_generic_plan -c max_parallel_workers_per_gather=0",
            prepare_at_once=True,
        )
        self.pools = (
            self.push_pool,
            self.pool,
            self.klines_pool,
            self.tickers.pool,
            self.grpc_pool,
        )
        # Each futures market of MARKETS: its /fapi or /dapi paths over its own schemas.
        self.futures = [
            FuturesApi(
                venue,
                self.pool,
                self.klines_pool,
                SymbolCache(
                    self.pool,
                    config.symbols_ttl,
                    configured=config.futures_symbols.get(venue.name, frozenset()),
                    market=venue,
                ),
                self._rate_limits(),
                config.ticker_cache_ttl,
            )
            for venue in FUTURES
            if venue.name in config.markets
        ]
        # Their kline streams on /fws and /dws: a hub and worker each, listening on the
        # market's own channel (functions/notify_markets.sql), reading its own schemas.
        self.futures_hubs = {
            futures.market.served_ws_prefix: Hub(
                self.push_pool,
                config.database_url,
                self.metrics,
                grid=futures.symbols.grid,
                first_ms=futures.symbols.first_ms,
                places=futures.symbols.places,
                market=futures.market,
            )
            for futures in self.futures
        }
        self.futures_workers = [Worker(hub) for hub in self.futures_hubs.values()]
        # The UDF feed holds them too, as TradingView names their contracts (BTCUSDT.P).
        self.udf.futures = {futures.market.name: futures.symbols for futures in self.futures}
        self.stop = asyncio.Event()
        self.started = time.time()
        self.push_tasks: list[asyncio.Future] = []

    def _grid(self, symbol: str, interval: str, offset_ms: int) -> int:
        """The offset the symbol's candles are read with (its own 3d grid); -1120 for 3d when
        its first day of trading is not known, and for 1s unless the symbol's seconds are kept."""
        try:
            return self.symbols.grid(symbol, interval, offset_ms)
        except UnknownGrid as exc:
            raise BinanceError(400, -1120, f"Invalid interval: {exc}.") from None

    async def klines(self, request: Request) -> Response:
        """GET /api/v3/klines."""
        try:
            req = klines_request(request.query_params)
            await self.symbols.require(req.symbol)
            req = replace(req, offset_ms=self._grid(req.symbol, req.interval, req.offset_ms))
        except BinanceError as exc:
            return json_response(exc.body(), exc.status)
        async with self.klines_pool.connection() as conn:
            rows = await fetch_klines(conn, req)
        return Response(
            orjson.dumps([rest_row(req.interval, r, req.offset_ms) for r in rows]),
            media_type="application/json",
        )

    async def ping(self, request: Request) -> Response:
        """GET /api/v3/ping."""
        return json_response({})

    async def server_time(self, request: Request) -> Response:
        """GET /api/v3/time."""
        return json_response({"serverTime": time.time_ns() // 1_000_000})

    async def exchange_info(self, request: Request) -> Response:
        """GET /api/v3/exchangeInfo: every symbol held, or those asked for."""
        return await exchange_info(request, self.symbols, self._rate_limits())

    def _rate_limits(self) -> list[dict]:
        """What this API enforces, in Binance's form (api/exchange_info.py)."""
        return rate_limits(self.weights.limit)

    async def health(self) -> dict:
        """The API's state: ok when the database answers, the listener is up and the push
        worker's recent turns did not fail (/healthz and gRPC's health service say this)."""
        db_ok = True
        try:
            async with self.pool.connection(timeout=2) as conn:
                await conn.execute("select 1")
        except Exception:
            db_ok = False
        # A listener or push worker that ended (they restart themselves on any error, so only
        # a bug ends one) pushes nothing more, whatever the last state it left.
        running = all(not task.done() for task in self.push_tasks)
        hubs = (self.hub, *self.futures_hubs.values())
        listening = all(hub.listening.is_set() for hub in hubs) and running
        pushing = all(w.pushing for w in (self.push_worker, *self.futures_workers))
        ok = db_ok and listening and pushing
        return {
            "status": "ok" if ok else "degraded",
            "database": db_ok,
            "listening": listening,
            "pushing": pushing,
            "uptime_s": round(time.time() - self.started, 1),
        }

    async def healthz(self, request: Request) -> Response:
        """GET /healthz: the API's state (health); 200 when ok, else 503."""
        state = await self.health()
        return json_response(state, 200 if state["status"] == "ok" else 503)

    async def session(self, request: Request) -> Response:
        """POST /session with the token in a header: the chart page's session cookie
        (HttpOnly, SameSite=Strict, Secure under TLS), which its WebSocket then carries."""
        token = token_of(dict(request.headers), "", allow_query=False)
        response = Response(status_code=204)
        if token:
            response.set_cookie(
                SESSION_COOKIE,
                token,
                httponly=True,
                samesite="strict",
                secure=self.config.tls,
                path="/",
            )
        return response

    async def metrics_page(self, request: Request) -> Response:
        """GET /metrics in Prometheus' text format."""
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def index(self, request: Request) -> Response:
        """GET /: the chart page."""
        return FileResponse(STATIC / "index.html")

    async def websocket(self, websocket: WebSocket) -> None:
        """WS /ws, /ws/<streams>, /stream?streams=; a futures market's under its prefix
        (/fws/ws/<streams>, /dws/stream?streams=)."""
        path = websocket.url.path
        prefix = next((p for p in self.futures_hubs if path.startswith(p + "/")), "")
        hub = self.futures_hubs[prefix] if prefix else self.hub
        await ws_protocol.serve(websocket, hub, self.config, self.metrics)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Open the pool, start the listener, the push worker and the symbol lists' refreshers;
        stop them on shutdown."""
        for pool in self.pools:
            await pool.open()
        tasks = self.push_tasks = [
            asyncio.ensure_future(listen(self.hub, self.stop)),
            asyncio.ensure_future(self.push_worker.run(self.stop)),
            asyncio.ensure_future(self.symbols.keep_fresh(self.stop)),
            # Each futures market's list too: its push reads grids and places from it.
            *(asyncio.ensure_future(f.symbols.keep_fresh(self.stop)) for f in self.futures),
            *(asyncio.ensure_future(listen(hub, self.stop)) for hub in self.futures_hubs.values()),
            *(asyncio.ensure_future(worker.run(self.stop)) for worker in self.futures_workers),
        ]
        with contextlib.suppress(TimeoutError, PoolTimeout):
            # Listening, and a connection with the symbol lists read (a database down at the
            # start holds the API up no longer than before).
            async with asyncio.timeout(10):
                for hub in (self.hub, *self.futures_hubs.values()):
                    await hub.listening.wait()
                # A connection handed out has read the symbol lists (warm_symbols).
                async with self.pool.connection():
                    pass
        try:
            yield
        finally:
            self.stop.set()
            await asyncio.wait(tasks, timeout=5)
            for t in tasks:
                t.cancel()
            for pool in self.pools:
                await pool.close()


def create_app(config: ApiConfig) -> Starlette:
    """The Starlette app with every route, wrapped in the guard."""
    api = Api(config)
    routes = [
        Route("/", api.index),
        Route("/api/v3/klines", api.klines),
        # Binance's klines "for presentation": the same rows here (no other presentation).
        Route("/api/v3/uiKlines", api.klines),
        Route("/api/v3/ticker/price", api.tickers.price),
        Route("/api/v3/ticker/24hr", api.tickers.day),
        Route("/api/v3/ticker", api.tickers.rolling),
        Route("/api/v3/avgPrice", api.tickers.avg_price),
        Route("/api/v3/ping", api.ping),
        Route("/api/v3/time", api.server_time),
        Route("/api/v3/exchangeInfo", api.exchange_info),
        *(route for futures in api.futures for route in futures.routes()),
        Route("/udf/config", api.udf.config),
        Route("/udf/symbols", api.udf.symbols_info),
        Route("/udf/search", api.udf.search),
        Route("/udf/history", api.udf.history),
        Route("/udf/time", api.udf.time),
        Route("/session", api.session, methods=["POST"]),
        Route("/healthz", api.healthz),
        Route("/metrics", api.metrics_page),
        WebSocketRoute("/ws", api.websocket),
        WebSocketRoute("/ws/{streams:path}", api.websocket),
        WebSocketRoute("/stream", api.websocket),
        # Each futures market's under its prefix, and under fstream's routed /market too
        # (where Binance serves USDⓈ-M's kline streams since 2026-04-23).
        *(
            WebSocketRoute(prefix + route + path, api.websocket)
            for prefix, hub in api.futures_hubs.items()
            for route in ("", *sorted(set(hub.market.stream_paths.values()) - {"/public"}))
            for path in ("/ws", "/ws/{streams:path}", "/stream")
        ),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=api.lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.api = api
    # Inside the guard, which passes a WebSocket's send on as the server gave it.
    app.add_middleware(WireMiddleware)
    app.add_middleware(Guard, config=config, metrics=api.metrics, weights=api.weights)
    if config.cors_origins:
        # Outermost: a preflight carries no token, and a 401 or 429 must reach the page.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["X-MBX-APIKEY", "Authorization"],
            expose_headers=["X-MBX-USED-WEIGHT-1M", "X-MBX-USED-WEIGHT", "Retry-After"],
        )
    return app
