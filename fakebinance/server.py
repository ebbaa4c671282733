"""FakeBinance: one aiohttp app on one port serving REST, WebSocket, dumps and fault hooks.

URLs: ``/api/v3/*`` (REST), ``/ws``, ``/ws/<s1>/<s2>``, ``/stream?streams=<s1>/<s2>`` (WS),
``/data/spot/{daily|monthly}/...zip[.CHECKSUM]`` (dumps), ``POST /fake/faults/<name>``,
``GET /fake/stats``, ``GET|POST /fake/clock``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import tempfile
import threading
from concurrent.futures import Future
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from fakebinance.clock import MarketClock, to_us
from fakebinance.config import MarketConfig, SymbolSpec
from fakebinance.dumps import build_zip, is_published, parse_dump_path, period_bounds_us
from fakebinance.futures import FuturesRestApi
from fakebinance.futures.dumps import build_futures_zip, parse_futures_path
from fakebinance.futures.rest import COINM_VENUE
from fakebinance.futures.ws import (
    COIN_LIMITS,
    COIN_WS_PREFIX,
    FUTURES_LIMITS,
    ROUTES,
    CoinWsHub,
    FuturesWsHub,
)
from fakebinance.market import Market
from fakebinance.ratelimit import WeightLimiter
from fakebinance.rest import RestApi, json_response
from fakebinance.wsfeed import WsHub, WsLimits

logger = logging.getLogger(__name__)

FAULTS = (
    "drop_connections",
    "stall",
    "send_malformed",
    "refuse_connections",
    "set_max_connection_age",
    "server_shutdown",
    "set_status",
    "list_symbol",
    "set_checksum_mode",
    "break_exchange_info",
    "empty_klines",
    "ban",
)
# How dumps' .CHECKSUM files are served: as published, absent (404), not in sha256sum format,
# well-formed but for other bytes, or failing with HTTP 500.
CHECKSUM_MODES = ("ok", "missing", "garbage", "mismatch", "error")


class FakeBinance:
    """The fake exchange. Use ``async with FakeBinance(cfg) as fake: fake.url``."""

    def __init__(
        self,
        market_config: MarketConfig,
        *,
        clock: MarketClock | None = None,
        ws_ping_interval: float = 20,
        ws_pong_timeout: float = 60,
        max_connection_age: float = 86_400,
        max_streams_per_connection: int = 1024,
        max_incoming_msgs_per_sec: int = 5,
        max_connection_attempts: tuple[int, float] = (300, 300),
        weight_limit: int = 6000,
        weight_window: float = 60,
        weight_phase: float = 0.0,
        ban_base: float = 120,
        dump_cache_dir: str | Path | None = None,
        tick_interval: float = 0.05,
        ssl_context: ssl.SSLContext | None = None,
        usdm_config: MarketConfig | None = None,
        usdm_weight_limit: int = 2400,
        funding_requests_limit: int = 500,
        coinm_config: MarketConfig | None = None,
    ) -> None:
        self.clock = clock or MarketClock()
        # TLS as Binance serves it (https://, wss://) when given a server context.
        self.ssl_context = ssl_context
        self.market = Market(market_config, self.clock)
        self.limiter = WeightLimiter(weight_limit, weight_window, ban_base, phase=weight_phase)
        self.hub = WsHub(
            self.market,
            WsLimits(
                ping_interval=ws_ping_interval,
                pong_timeout=ws_pong_timeout,
                max_connection_age=max_connection_age,
                max_streams=max_streams_per_connection,
                max_incoming_per_sec=max_incoming_msgs_per_sec,
                max_attempts=max_connection_attempts[0],
                attempts_window=max_connection_attempts[1],
            ),
            tick_interval,
        )
        self.rest = RestApi(self.market, self.limiter)
        # USDⓈ-M perpetuals on /fapi/v1 (none unless configured), with their own IP limit and
        # funding history's own 500 requests per 5 minutes.
        self.usdm: FuturesRestApi | None = None
        self.usdm_hub: FuturesWsHub | None = None
        # USDⓈ-M and COIN-M draw from one IP pool since 2026-06-30 (docs/BINANCE.md).
        futures_limiter = WeightLimiter(usdm_weight_limit, 60, ban_base, phase=weight_phase)
        funding_limiter = WeightLimiter(funding_requests_limit, 300, ban_base, phase=weight_phase)
        if usdm_config is not None:
            usdm_market = Market(usdm_config, self.clock)
            self.usdm = FuturesRestApi(usdm_market, futures_limiter, funding_limiter)
            # Its streams on fstream's routed paths, beside spot's /ws (usdm_ws_url).
            self.usdm_hub = FuturesWsHub(usdm_market, FUTURES_LIMITS, tick_interval)
        # COIN-M's contracts on /dapi/v1 and dstream's paths under /dstream.
        self.coinm: FuturesRestApi | None = None
        self.coinm_hub: CoinWsHub | None = None
        if coinm_config is not None:
            coinm_market = Market(coinm_config, self.clock)
            self.coinm = FuturesRestApi(coinm_market, futures_limiter, funding_limiter, COINM_VENUE)
            self.coinm_hub = CoinWsHub(coinm_market, COIN_LIMITS, tick_interval)
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._dump_dir = Path(dump_cache_dir) if dump_cache_dir else None
        self._dump_locks: dict[Path, asyncio.Lock] = {}
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.dumps_served = 0
        self.checksum_mode = "ok"

    # ----------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        """Base URL for REST, WS (same host/port; ws:// works too) and dumps."""
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The same base with the ws:// (wss:// with TLS) scheme."""
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        """The aiohttp application (also usable with aiohttp's test utilities)."""
        # 1024 stream names in one /stream URL exceed aiohttp's default 8 KiB request line.
        futures = [api for api in (self.usdm, self.coinm) if api is not None]
        middlewares = [self.rest.middleware] + [api.middleware for api in futures]
        app = web.Application(middlewares=middlewares, handler_args={"max_line_size": 65536})
        app.add_routes(self.rest.routes())
        if self.usdm and self.usdm_hub:
            app.add_routes(self.usdm.routes())
            for prefix in ROUTES:
                app.add_routes(
                    [
                        web.get(f"{prefix}/ws", self.usdm_hub.handle),
                        web.get(f"{prefix}/ws/{{streams:.+}}", self.usdm_hub.handle),
                        web.get(f"{prefix}/stream", self.usdm_hub.handle),
                    ]
                )
        if self.coinm and self.coinm_hub:
            app.add_routes(self.coinm.routes())
            app.add_routes(
                [
                    web.get(f"{COIN_WS_PREFIX}/ws", self.coinm_hub.handle),
                    web.get(f"{COIN_WS_PREFIX}/ws/{{streams:.+}}", self.coinm_hub.handle),
                    web.get(f"{COIN_WS_PREFIX}/stream", self.coinm_hub.handle),
                ]
            )
        app.add_routes(
            [
                web.get("/ws", self.hub.handle),
                web.get("/ws/{streams:.+}", self.hub.handle),
                web.get("/stream", self.hub.handle),
                web.get("/data/{tail:.+}", self._dump),
                web.post("/fake/faults/{name}", self._fault),
                web.get("/fake/stats", self._stats),
                web.get("/fake/clock", self._clock_get),
                web.post("/fake/clock", self._clock_set),
            ]
        )
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeBinance:
        """Bind and serve; ``port=0`` picks a free port (see ``url``)."""
        if self._dump_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fakebinance-dumps-")
            self._dump_dir = Path(self._tmp.name)
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, host, port, reuse_address=True, ssl_context=self.ssl_context
        )
        await site.start()
        self.host, self.port = host, self._runner.addresses[0][1]
        self.hub.start()
        for hub in (self.usdm_hub, self.coinm_hub):
            if hub:
                hub.start()
        logger.info("fake binance listening on %s", self.url)
        return self

    async def stop(self) -> None:
        """Close every connection and stop serving."""
        self.rest.day_tickers.close()
        await self.hub.stop()
        for hub in (self.usdm_hub, self.coinm_hub):
            if hub:
                await hub.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._dump_dir = None

    async def __aenter__(self) -> FakeBinance:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    def run_in_thread(
        cls, market_config: MarketConfig, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
    ) -> ThreadedFakeBinance:
        """Start a FakeBinance on its own event loop in a daemon thread."""
        return ThreadedFakeBinance(cls(market_config, **kwargs), host, port)

    # ----------------------------------------------------------------- faults
    def drop_connections(self) -> int:
        """Abruptly close every WebSocket (no close frame); returns how many."""
        return self.hub.drop_connections()

    def stall(self, seconds: float) -> None:
        """Keep sockets open but send nothing; trades in the stall are lost for clients."""
        self.hub.stall(seconds)

    def send_malformed(self, text: str = "{not json") -> None:
        """The next frame to every WebSocket is ``text`` verbatim."""
        self.hub.send_malformed(text)

    def refuse_connections(self, seconds: float) -> None:
        """WebSocket handshakes fail with HTTP 503 for ``seconds``."""
        self.hub.refuse_connections(seconds)

    def set_max_connection_age(self, seconds: float) -> None:
        """Cut connections older than ``seconds`` (the 24-hour cut, early)."""
        self.hub.set_max_connection_age(seconds)

    def server_shutdown(self) -> None:
        """Send ``{"e":"serverShutdown","E":ms}`` on every WebSocket, then close them."""
        self.hub.server_shutdown()

    def set_status(self, symbol: str, status: str, trades_from_ms: int | None = None) -> int | None:
        """Change a symbol's status; non-TRADING halts it from the next minute on, TRADING
        resumes it then (or at ``trades_from_ms``'s minute, if later). Returns that minute's
        open time in ms (None when trading is unchanged)."""
        applies_from = self.market.set_status(symbol, status, trades_from_ms)
        self.hub.reset_due()
        return applies_from

    def list_symbol(self, spec: SymbolSpec) -> None:
        """List a new symbol at runtime."""
        self.market.list_symbol(spec)
        self.hub.reset_due()

    def break_exchange_info(self, mode: str, answers: int = 1) -> None:
        """The next ``answers`` exchangeInfo answers carry no usable "symbols" (``mode``:
        missing, null or empty)."""
        self.rest.break_exchange_info(mode, answers)

    def ban(self, seconds: float, ip: str = "127.0.0.1") -> None:
        """Ban ``ip`` (HTTP 418 on every REST request) for ``seconds``, as Binance does an IP
        that went on after a 429."""
        self.limiter.ban(ip, seconds)

    def empty_klines(self, answers: int = 1) -> None:
        """The next ``answers`` klines answers are empty though the market has the klines."""
        self.rest.empty_klines_answers = answers

    def set_checksum_mode(self, mode: str) -> None:
        """Serve every dump's .CHECKSUM as ``mode`` says (one of CHECKSUM_MODES)."""
        if mode not in CHECKSUM_MODES:
            raise ValueError(f"mode must be one of {', '.join(CHECKSUM_MODES)}")
        self.checksum_mode = mode

    # ----------------------------------------------------------------- handlers
    async def _fault(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        q = request.query
        try:
            if name == "drop_connections":
                result: object = self.drop_connections()
            elif name == "stall":
                result = self.stall(float(q["seconds"]))
            elif name == "send_malformed":
                result = self.send_malformed(q.get("text", "{not json"))
            elif name == "refuse_connections":
                result = self.refuse_connections(float(q["seconds"]))
            elif name == "set_max_connection_age":
                result = self.set_max_connection_age(float(q["seconds"]))
            elif name == "server_shutdown":
                result = self.server_shutdown()
            elif name == "set_status":
                result = self.set_status(q["symbol"].upper(), q["status"])
            elif name == "break_exchange_info":
                result = self.break_exchange_info(q["mode"], int(q.get("answers", "1")))
            elif name == "empty_klines":
                result = self.empty_klines(int(q.get("answers", "1")))
            elif name == "ban":
                result = self.ban(float(q["seconds"]), q.get("ip", "127.0.0.1"))
            elif name == "set_checksum_mode":
                result = self.set_checksum_mode(q["mode"])
            elif name == "list_symbol":
                result = self.list_symbol(
                    SymbolSpec(
                        q["symbol"].upper(),
                        Decimal(q.get("base_price", "1")),
                        int(q.get("price_decimals", "4")),
                        int(q.get("qty_decimals", "2")),
                        float(q.get("trades_per_minute", "30")),
                        datetime.fromisoformat(q["listed_at"])
                        if "listed_at" in q
                        else self.clock.now(),
                    )
                )
            else:
                return json_response({"error": f"unknown fault {name}", "faults": FAULTS}, 404)
        except (KeyError, ValueError) as exc:
            return json_response({"error": f"bad parameters: {exc}"}, 400)
        return json_response({"ok": True, "fault": name, "result": result})

    async def _stats(self, request: web.Request) -> web.Response:
        return json_response(self.stats())

    def stats(self) -> dict:
        """Connections, messages sent, 429s/418s, weight and dumps served."""
        ws = self.hub.stats_snapshot()
        return {
            **ws,
            "ws_connections": ws["connections"],
            "http_429": self.limiter.count_429,
            "http_418": self.limiter.count_418,
            "weight_total": self.limiter.total_weight(),
            "weight_by_window": {str(k): v for k, v in self.limiter.weight_by_window.items()},
            "dumps_served": self.dumps_served,
            # Spot's and the futures' (their /fapi/v1 paths), admitted requests per path.
            "requests_by_path": {
                **self.rest.requests,
                **(self.usdm.trades.requests if self.usdm else {}),
                **(self.coinm.trades.requests if self.coinm else {}),
            },
        }

    async def _clock_get(self, request: web.Request) -> web.Response:
        now = self.clock.now_us()
        return json_response(
            {
                "now_us": now,
                "now_ms": now // 1000,
                "iso": self.clock.now().isoformat(),
                "speed": self.clock.speed,
            }
        )

    async def _clock_set(self, request: web.Request) -> web.Response:
        """POST /fake/clock?to=ISO&speed=S (forward only: history is immutable)."""
        q = request.query
        try:
            target = to_us(datetime.fromisoformat(q["to"])) if "to" in q else self.clock.now_us()
            speed = float(q["speed"]) if "speed" in q else None
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        if target < self.clock.now_us():
            return json_response({"error": "the market clock only moves forward"}, 400)
        self.clock.set(target, speed)
        return await self._clock_get(request)

    async def _dump(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if tail.startswith(("futures/um/", "futures/cm/")):
            api = self.usdm if tail.startswith("futures/um/") else self.coinm
            if api is None:
                raise web.HTTPNotFound()
            market = api.market
            ref = parse_futures_path(tail)
            build = functools.partial(build_futures_zip, market, api.prices)
        else:
            market = self.market
            ref = parse_dump_path(tail)
            build = functools.partial(build_zip, market)
        if ref is None or not market.has_symbol(ref.symbol):
            raise web.HTTPNotFound()
        _, end_us = period_bounds_us(ref.period_start, ref.daily)
        listed = to_us(market.spec(ref.symbol).listed_at)
        if not is_published(ref, self.clock.now_us()) or end_us <= listed:
            raise web.HTTPNotFound()
        assert self._dump_dir is not None
        out_dir = self._dump_dir / f"seed-{market.config.seed}" / ref.rel_dir
        zip_path = out_dir / f"{ref.base_name}.zip"
        lock = self._dump_locks.setdefault(zip_path, asyncio.Lock())
        async with lock:
            if not zip_path.exists():
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, build, ref, out_dir)
        self.dumps_served += 1
        if ref.checksum:
            return self._checksum(out_dir / f"{ref.base_name}.zip.CHECKSUM")
        return web.FileResponse(zip_path, headers={"Content-Type": "application/zip"})

    def _checksum(self, path: Path) -> web.Response:
        mode = self.checksum_mode
        if mode == "missing":
            raise web.HTTPNotFound()
        if mode == "error":
            raise web.HTTPInternalServerError()
        text = path.read_text()
        if mode == "garbage":
            text = "<html><body>Service Unavailable</body></html>\n"
        elif mode == "mismatch":
            text = "0" * 64 + text[64:]
        return web.Response(text=text, content_type="text/plain")


class ThreadedFakeBinance:
    """A FakeBinance running on its own loop in a daemon thread (for synchronous tests)."""

    def __init__(self, fake: FakeBinance, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        started: Future = Future()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(fake.start(host, port))
            except BaseException as exc:  # surface bind errors to the caller
                started.set_exception(exc)
                return
            started.set_result(None)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="fakebinance", daemon=True)
        self.thread.start()
        started.result(timeout=30)

    @property
    def url(self) -> str:
        """Base URL of the running fake."""
        return self.fake.url

    @property
    def market(self) -> Market:
        """The fake's market (read-only use from other threads is safe)."""
        return self.fake.market

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``fake.<name>(*args)`` on the fake's loop and return its result."""

        async def run() -> Any:
            return getattr(self.fake, name)(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def stats(self) -> dict:
        """Same as ``GET /fake/stats``."""
        return self.call("stats")

    def __getattr__(self, name: str) -> Any:
        if name in FAULTS:
            return lambda *a, **kw: self.call(name, *a, **kw)
        raise AttributeError(name)

    def stop(self) -> None:
        """Stop the server and its thread."""
        if not self.thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> ThreadedFakeBinance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
