"""candles.v1.CandleService over grpc.aio: Subscribe (server streaming) and History."""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path

import grpc
from psycopg_pool import AsyncConnectionPool

from api.binance import SERVED_INTERVALS, parse_stream, stream_name
from api.config import ApiConfig
from api.proto.candles.v1 import candles_pb2, candles_pb2_grpc
from api.push import Hub, Subscriber
from api.queries import KlinesRequest, Row, closed_candles, fetch_klines
from api.symbols import SymbolCache
from include.platform.intervals import UnknownGrid, bucket_end

logger = logging.getLogger(__name__)

MAX_QUEUED = 10_000


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
        self.queue: asyncio.Queue[dict | None] = asyncio.Queue(MAX_QUEUED)

    def deliver(self, stream: str, event: dict, raw: str, combined: str) -> bool:
        try:
            self.queue.put_nowait(event)
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
    ) -> None:
        self.hub = hub
        self.symbols = symbols
        # The history's connections (the REST klines' own, app.Api.klines_pool).
        self.klines_pool = klines_pool
        self.tokens = [t.encode() for t in config.tokens]

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if not self.tokens:
            return
        meta = {k.lower(): v for k, v in (context.invocation_metadata() or ())}
        token = meta.get("x-mbx-apikey")
        auth = meta.get("authorization", "")
        if token is None and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if token is None or not any(hmac.compare_digest(token.encode(), t) for t in self.tokens):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "API-key required")

    async def _check(self, context, symbols: list[str], interval: str) -> None:
        if interval not in SERVED_INTERVALS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Invalid interval.")
        for s in symbols:
            if not await self.symbols.has(s):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid symbol: {s}")
            try:
                self.symbols.grid(s, interval)
            except UnknownGrid as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{s}: {exc}")

    async def Subscribe(self, request, context):
        """Stream every change to the candles of the requested symbols and interval."""
        await self._authorize(context)
        symbols = [s.upper() for s in request.symbols]
        if not symbols:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "symbols is empty")
        await self._check(context, symbols, request.interval)
        sub = _Stream()
        names = [stream_name(s, request.interval) for s in symbols]
        for name in names:
            self.hub.subscribe(sub, name, *parse_stream(name))  # type: ignore[misc]
        try:
            while True:
                event = await sub.queue.get()
                if event is None:
                    return
                k = event["k"]
                row = (k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["q"], k["n"], k["V"])
                yield candle_message(k["s"], k["i"], (*row, k["Q"]), k["x"], event["E"])
        finally:
            for name in names:
                self.hub.unsubscribe(sub, name, *parse_stream(name))  # type: ignore[misc]

    async def History(self, request, context):
        """Past candles with Binance's klines semantics."""
        await self._authorize(context)
        symbol = request.symbol.upper()
        await self._check(context, [symbol], request.interval)
        limit = request.limit or 500
        req = KlinesRequest(
            symbol,
            request.interval,
            request.start_time if request.HasField("start_time") else None,
            request.end_time if request.HasField("end_time") else None,
            min(limit, 1000),
            self.symbols.grid(symbol, request.interval),
        )
        async with self.klines_pool.connection() as conn:
            rows = await fetch_klines(conn, req)
            opens = [r[0] for r in rows]
            closed = await closed_candles(conn, symbol, req.interval, req.offset_ms, opens)
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


async def start_grpc(
    hub: Hub,
    symbols: SymbolCache,
    config: ApiConfig,
    port: int,
    klines_pool: AsyncConnectionPool,
) -> tuple[grpc.aio.Server, int]:
    """Start the gRPC server on API_HOST; returns it and the bound port."""
    server = grpc.aio.server()
    candles_pb2_grpc.add_CandleServiceServicer_to_server(
        CandleService(hub, symbols, config, klines_pool), server
    )
    host = f"[{config.host}]" if ":" in config.host else config.host
    credentials = tls_credentials(config)
    if credentials is not None:
        bound = server.add_secure_port(f"{host}:{port}", credentials)
    else:
        bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server, bound
