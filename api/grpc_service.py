"""candles.v1.CandleService over grpc.aio: Subscribe (server streaming) and History."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from api.binance import SERVED_INTERVALS, parse_stream, stream_name, zoned
from api.config import ApiConfig
from api.guard import BUSY
from api.klines import KlinesRequest, Row, fetch_klines
from api.limits import WeightLimiter, weight_of
from api.proto.candles.v1 import candles_pb2, candles_pb2_grpc
from api.push import Hub, Subscriber
from api.push.event import CandleEvent
from api.push.reads import closed_candles
from api.symbols import SymbolCache
from include.platform.intervals import SECOND, UnknownGrid, bucket_end
from include.platform.markets import MARKETS, SPOT, Market

if TYPE_CHECKING:
    from api.app import Api

logger = logging.getLogger(__name__)

MAX_QUEUED = 10_000
SERVICE = candles_pb2.DESCRIPTOR.services_by_name["CandleService"].full_name
# How often the health service re-reads the API's state (as /healthz computes it).
HEALTH_EVERY_S = 1.0
# A call's weight, as the REST request it stands for (History: /api/v3/klines).
CALL_WEIGHT = weight_of("/api/v3/klines")


def peer_address(peer: str) -> str:
    """The client's address from gRPC's peer ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000")."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1 : rest.find("]")]
    return rest.rsplit(":", 1)[0] if kind == "ipv4" else peer


def token_valid(metadata, tokens: list[bytes]) -> bool:
    """Whether a call's metadata carries one of the tokens (x-mbx-apikey, or a bearer token)."""
    meta = {k.lower(): v for k, v in (metadata or ())}
    token = meta.get("x-mbx-apikey")
    auth = meta.get("authorization", "")
    if token is None and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return token is not None and any(hmac.compare_digest(token.encode(), t) for t in tokens)


class ReflectionGate(grpc.aio.ServerInterceptor):
    """Server reflection asks for a token like the candle service does (when API_TOKENS is
    set); the health service stays open, as probes send none and it tells nothing else."""

    def __init__(self, tokens: list[bytes]) -> None:
        self.tokens = tokens

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method or ""
        if (
            self.tokens
            and method.startswith("/grpc.reflection.")
            and not token_valid(handler_call_details.invocation_metadata, self.tokens)
        ):
            return grpc.stream_stream_rpc_method_handler(_unauthenticated)
        return await continuation(handler_call_details)


async def _unauthenticated(requests, context):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "API-key required")


async def follow_health(api: Api, servicer: health.aio.HealthServicer) -> None:
    """SERVING while the API's state is ok (the database answers, the push listens and
    works), NOT_SERVING otherwise, for the server ("") and the candle service."""
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    while True:
        try:
            ok = (await api.health())["status"] == "ok"
        except Exception:  # a state that cannot be read is not a healthy one
            ok = False
        # The service before the server: a probe that saw the server SERVING finds the
        # candle service's status too, never NOT_FOUND.
        for name in (SERVICE, ""):
            await servicer.set(name, serving if ok else not_serving)
        await asyncio.sleep(HEALTH_EVERY_S)


def candle_message(symbol: str, interval: str, row: Row, closed: bool, event_ms: int):
    """A Candle message from a klines row."""
    t, o, h, lo, c, v, q, n, tv, tq = row
    return candles_pb2.Candle(
        symbol=symbol,
        interval=interval,
        open_time=t,
        close_time=bucket_end(interval, t) - 1,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=v,
        quote_volume=q,
        trade_count=n,
        taker_buy_volume=tv,
        taker_buy_quote_volume=tq,
        is_closed=closed,
        event_time=event_ms,
    )


class _Stream(Subscriber):
    """One Subscribe call's queue of events."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[candles_pb2.Candle | None] = asyncio.Queue(MAX_QUEUED)

    @staticmethod
    def encode(hub: Hub, stream: str, candle: CandleEvent) -> candles_pb2.Candle:
        """The candle as a Candle message (its values as the tables hold them, as History's)."""
        interval = zoned(candle.key)[0]
        return candle_message(candle.symbol, interval, candle.row, candle.closed, candle.event_ms)

    def deliver(self, form: candles_pb2.Candle) -> bool:
        try:
            self.queue.put_nowait(form)
        except asyncio.QueueFull:
            return False
        return True

    def cut(self) -> None:
        """End the call: the client fell too far behind."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class CandleService(candles_pb2_grpc.CandleServiceServicer):
    """The service over the hub (live) and the klines query (history)."""

    def __init__(
        self,
        hub: Hub,
        symbols: SymbolCache,
        config: ApiConfig,
        klines_pool: AsyncConnectionPool,
        weights: WeightLimiter,
        futures: Mapping[str, tuple[Hub, SymbolCache]] | None = None,
    ) -> None:
        self.hub = hub
        self.symbols = symbols
        # Each market a call may name (``market``): spot's hub and symbols, and each futures
        # market's of MARKETS.
        self.venues = {"spot": (hub, symbols), **(futures or {})}
        # The history's connections (gRPC's own, app.Api.grpc_pool).
        self.klines_pool = klines_pool
        self.tokens = [t.encode() for t in config.tokens]
        # The REST side's limiter: one budget per address, whichever door a call comes in by.
        self.weights = weights
        self.max_streams = config.max_streams
        self.max_calls = config.grpc_max_rpcs
        self.calls = 0

    @contextlib.asynccontextmanager
    async def _slot(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        """One of API_GRPC_MAX_RPCS places for the call's whole length (a Subscribe holds its
        place while it streams); none free: RESOURCE_EXHAUSTED."""
        if self.max_calls > 0 and self.calls >= self.max_calls:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Too many calls in progress: at most {self.max_calls} (API_GRPC_MAX_RPCS)",
            )
        self.calls += 1
        try:
            yield
        finally:
            self.calls -= 1

    async def _spend(self, context: grpc.aio.ServicerContext) -> None:
        """Take the call's weight from its address's minute; past the limit, Binance's -1003."""
        spent = self.weights.spend(peer_address(context.peer()), CALL_WEIGHT)
        if not spent.allowed:
            body = self.weights.over_limit_body()
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{body['code']} {body['msg']} Retry after {spent.retry_after} s.",
            )

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if self.tokens and not token_valid(context.invocation_metadata(), self.tokens):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "API-key required")

    async def _venue(self, context, name: str) -> tuple[Market, Hub, SymbolCache]:
        """The call's market (empty: spot): its record, hub and symbols."""
        name = (name or "spot").lower()
        if name not in self.venues:
            run = ", ".join(self.venues)
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"Unknown market {name!r}: one of {run}"
            )
        hub, symbols = self.venues[name]
        return MARKETS[name], hub, symbols

    async def _check(
        self, context, symbols: list[str], interval: str, cache: SymbolCache, market: Market
    ) -> None:
        if interval not in SERVED_INTERVALS or (market is not SPOT and interval == SECOND):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Invalid interval.")
        for s in symbols:
            if not await cache.has(s):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid symbol: {s}")
            try:
                cache.grid(s, interval)
            except UnknownGrid as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{s}: {exc}")

    async def Subscribe(self, request, context):
        """Stream every change to the candles of the requested symbols and interval."""
        async with self._slot(context):
            await self._authorize(context)
            await self._spend(context)
            symbols = list(dict.fromkeys(s.upper() for s in request.symbols))
            if not symbols:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "symbols is empty")
            if len(symbols) > self.max_streams:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"symbols: at most {self.max_streams} per call, as WebSocket streams",
                )
            market, hub, cache = await self._venue(context, request.market)
            await self._check(context, symbols, request.interval, cache, market)
            sub = _Stream()
            names = [stream_name(s, request.interval) for s in symbols]
            for name in names:
                hub.subscribe(sub, name, *parse_stream(name))  # type: ignore[misc]
            try:
                while True:
                    message = await sub.queue.get()
                    if message is None:
                        return
                    yield message
            finally:
                for name in names:
                    hub.unsubscribe(sub, name, *parse_stream(name))  # type: ignore[misc]

    async def History(self, request, context):
        """Past candles with Binance's klines semantics."""
        async with self._slot(context):
            await self._authorize(context)
            await self._spend(context)
            symbol = request.symbol.upper()
            market, _hub, cache = await self._venue(context, request.market)
            await self._check(context, [symbol], request.interval, cache, market)
            limit = request.limit or 500
            req = KlinesRequest(
                symbol,
                request.interval,
                request.start_time if request.HasField("start_time") else None,
                request.end_time if request.HasField("end_time") else None,
                min(limit, 1000),
                cache.grid(symbol, request.interval),
                market.name,
            )
            try:
                async with self.klines_pool.connection() as conn:
                    rows = await fetch_klines(conn, req)
                    opens = [r[0] for r in rows]
                    closed = await closed_candles(
                        conn, symbol, req.interval, req.offset_ms, opens, market
                    )
            except PoolTimeout:
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"{BUSY['code']} {BUSY['msg']}")
            return candles_pb2.HistoryResponse(
                candles=[candle_message(symbol, req.interval, r, r[0] in closed, 0) for r in rows]
            )


def tls_credentials(config: ApiConfig) -> grpc.ServerCredentials | None:
    """API_TLS_CERT and API_TLS_KEY as gRPC server credentials, or None without TLS."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    return grpc.ssl_server_credentials(
        [(Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())]
    )


async def start_grpc(api: Api, config: ApiConfig, port: int) -> tuple[grpc.aio.Server, int]:
    """Start the gRPC server on API_HOST; returns it and the bound port. At most
    API_GRPC_MAX_RPCS calls run at once: past it a call fails with RESOURCE_EXHAUSTED. Beside
    the candle service: grpc.health.v1 (open) and server reflection (a token when set)."""
    futures = {
        f.market.name: (api.futures_hubs[f.market.served_ws_prefix], f.symbols) for f in api.futures
    }
    service = CandleService(api.hub, api.symbols, config, api.grpc_pool, api.weights, futures)
    server = grpc.aio.server(interceptors=[ReflectionGate(service.tokens)])
    candles_pb2_grpc.add_CandleServiceServicer_to_server(service, server)
    checks = health.aio.HealthServicer()
    # Not serving until the first look at the API's state (grpc_health starts "" as SERVING).
    for name in (SERVICE, ""):
        await checks.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    reflection.enable_server_reflection(
        (SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    watcher = asyncio.ensure_future(follow_health(api, checks))
    # Stopped with the server: its health is no one's once it is gone.
    stop = server.stop

    async def stop_all(grace):
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        return await stop(grace)

    server.stop = stop_all  # type: ignore[method-assign]
    host = f"[{config.host}]" if ":" in config.host else config.host
    credentials = tls_credentials(config)
    if credentials is not None:
        bound = server.add_secure_port(f"{host}:{port}", credentials)
    else:
        bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server, bound
