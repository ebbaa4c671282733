"""WebSocket side of the fake: trade/aggTrade streams, live SUBSCRIBE, limits and faults.

One ticker task reads the market once per tick for every subscribed symbol, encodes each
message once and queues it on every subscribed connection; each connection has one sender
task. A subscription receives trades whose time is after the subscription's start (market
clock), in id order, each once the market clock has passed its time.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from fakebinance.market import Market
from fakebinance.market.units import fmt8
from fakebinance.wsframes import send_queued

logger = logging.getLogger(__name__)

STREAM_RE = re.compile(r"^[a-z0-9_]+@[a-zA-Z0-9_]+$")
FEED_KINDS = ("trade", "aggTrade")
MAX_PENDING_FRAMES = 500_000


# Writes a value in 1e-8 units as a frame's decimal string.
Format = Callable[[int], str]
# A symbol's price and quantity formats.
Formats = tuple[Format, Format]


@dataclass
class WsLimits:
    """Per-connection and per-IP WebSocket limits (Binance defaults)."""

    ping_interval: float = 20.0
    pong_timeout: float = 60.0
    max_connection_age: float = 86_400.0
    max_streams: int = 1024
    max_incoming_per_sec: int = 5
    max_attempts: int = 300
    attempts_window: float = 300.0


@dataclass(eq=False)
class _Conn:
    ident: int
    ws: web.WebSocketResponse
    transport: Any
    ip: str
    combined: bool
    opened: float
    streams: dict[str, int] = field(default_factory=dict)
    pending: collections.deque = field(default_factory=collections.deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    incoming: collections.deque = field(default_factory=collections.deque)
    last_ping: float = 0.0
    unanswered_since: float | None = None
    close_after_flush: tuple[int, bytes] | None = None
    closed: bool = False
    # The feeds its path delivers (a stream of another is accepted and stays silent).
    kinds: tuple[str, ...] = FEED_KINDS


class WsHub:
    """All WebSocket connections of one fake server."""

    def __init__(self, market: Market, limits: WsLimits, tick: float = 0.05) -> None:
        self.market = market
        self.limits = limits
        self.tick = tick
        self.conns: set[_Conn] = set()
        self._subs: dict[str, dict[str, set[_Conn]]] = {}
        self._next_id = 0
        self._attempts: dict[str, collections.deque] = {}
        self._refuse_until = 0.0
        self._stall_until = 0.0
        # The market span a stall loses, (from, to] in µs: lost even if no tick fell inside it
        # (a loop busy elsewhere for the whole stall).
        self._lost: tuple[int, int] | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        # Per symbol: market time of its next trade, so idle symbols cost one compare a tick.
        self._due: dict[str, int] = {}
        self.stats = collections.Counter()

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the ticker and the housekeeping task on the running loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._ticker()), loop.create_task(self._housekeeping())]

    async def stop(self) -> None:
        """Stop the background tasks and close every connection."""
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        for conn in list(self.conns):
            await self._close(conn, 1001, b"server stopping")

    # ----------------------------------------------------------------- faults
    def drop_connections(self) -> int:
        """Abruptly close every connection (no close frame)."""
        n = 0
        for conn in list(self.conns):
            self._forget(conn)
            if conn.transport is not None:
                conn.transport.abort()
            n += 1
        self.stats["dropped"] += n
        return n

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds``; trades falling in the stall are never sent."""
        self._stall_until = time.monotonic() + seconds
        clock = self.market.clock
        start = clock.now_us()
        self._lost = (start, start + int(seconds * clock.speed * 1_000_000))

    def send_malformed(self, text: str) -> None:
        """Make the next frame to every connection the given raw text."""
        frame = text.encode()
        for conn in self.conns:
            conn.pending.appendleft(frame)
            conn.wake.set()

    def refuse_connections(self, seconds: float) -> None:
        """Fail WebSocket handshakes (HTTP 503) for ``seconds``."""
        self._refuse_until = time.monotonic() + seconds

    def set_max_connection_age(self, seconds: float) -> None:
        """Change the forced disconnect age, applying to open connections too."""
        self.limits.max_connection_age = seconds

    def server_shutdown(self) -> None:
        """Send the serverShutdown event to everyone, then close."""
        event = orjson.dumps({"e": "serverShutdown", "E": self.market.clock.now_ms()})
        for conn in self.conns:
            conn.pending.append(event)
            conn.close_after_flush = (1001, b"server shutdown")
            conn.wake.set()

    @property
    def stalled(self) -> bool:
        """Is a stall in force?"""
        return time.monotonic() < self._stall_until

    # ----------------------------------------------------------------- handshake
    def kinds_for(self, path: str) -> tuple[str, ...]:
        """The feeds a connection on ``path`` gets: spot's every one."""
        return FEED_KINDS

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for /ws, /ws/<streams> and /stream?streams=..."""
        ip = request.remote or "?"
        now = time.monotonic()
        attempts = self._attempts.setdefault(ip, collections.deque())
        while attempts and attempts[0] <= now - self.limits.attempts_window:
            attempts.popleft()
        attempts.append(now)
        if now < self._refuse_until:
            self.stats["refused"] += 1
            return web.Response(status=503, text="Service Unavailable")
        if len(attempts) > self.limits.max_attempts:
            self.stats["refused_attempts"] += 1
            return _json_response(429, {"code": -1003, "msg": "Too many connection attempts."})
        combined = request.path.rstrip("/").endswith("/stream")
        if combined:
            raw = request.query.get("streams", "")
        else:
            raw = request.match_info.get("streams", "")
        names = [s for s in raw.split("/") if s]
        if len(names) > self.limits.max_streams:
            return _json_response(400, {"code": -1, "msg": "Too many streams requested."})
        if any(not STREAM_RE.match(s) for s in names):
            return _json_response(400, {"code": -1, "msg": "Invalid stream name."})
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
        transport = request.transport
        await ws.prepare(request)
        self._next_id += 1
        conn = _Conn(self._next_id, ws, transport, ip, combined, time.monotonic())
        conn.kinds = self.kinds_for(request.path)
        conn.last_ping = conn.opened
        self.conns.add(conn)
        self.stats["connections_total"] += 1
        self._subscribe(conn, names)
        sender = asyncio.get_running_loop().create_task(self._sender(conn))
        try:
            await self._reader(conn)
        finally:
            self._forget(conn)
            conn.wake.set()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            if not ws.closed:
                await ws.close()
        return ws

    # ----------------------------------------------------------------- incoming
    async def _reader(self, conn: _Conn) -> None:
        ws = conn.ws
        while not conn.closed:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            now = time.monotonic()
            conn.incoming.append(now)
            while conn.incoming and conn.incoming[0] <= now - 1.0:
                conn.incoming.popleft()
            if len(conn.incoming) > self.limits.max_incoming_per_sec:
                self.stats["closed_rate"] += 1
                await self._close(conn, 1008, b"Too many requests")
                return
            if msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                conn.unanswered_since = None
            elif msg.type == WSMsgType.TEXT:
                await self._on_request(conn, msg.data)
            elif msg.type == WSMsgType.BINARY:
                await self._reply(conn, {"error": {"code": 3, "msg": "Binary not supported"}})

    async def _on_request(self, conn: _Conn, text: str) -> None:
        try:
            req = orjson.loads(text)
            method, ident = req["method"], req.get("id")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await self._reply(conn, {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        params = req.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or any(
                not isinstance(p, str) or not STREAM_RE.match(p) for p in params
            ):
                await self._reply(
                    conn,
                    {"error": {"code": 2, "msg": "Invalid request: bad stream name"}, "id": ident},
                )
                return
            if method == "UNSUBSCRIBE":
                self._unsubscribe(conn, params)
            else:
                new = set(params) - set(conn.streams)
                if len(conn.streams) + len(new) > self.limits.max_streams:
                    self.stats["closed_streams"] += 1
                    msg = f"Too many streams: at most {self.limits.max_streams} per connection"
                    # Flush the error reply first, then close; stop feeding meanwhile.
                    self._unsubscribe(conn, list(conn.streams))
                    conn.close_after_flush = (1008, b"Too many streams")
                    await self._reply(conn, {"error": {"code": 2, "msg": msg}, "id": ident})
                    return
                self._subscribe(conn, params)
            await self._reply(conn, {"result": None, "id": ident})
        elif method == "LIST_SUBSCRIPTIONS":
            await self._reply(conn, {"result": list(conn.streams), "id": ident})
        elif method == "SET_PROPERTY":
            await self._reply(conn, {"result": None, "id": ident})
        elif method == "GET_PROPERTY":
            await self._reply(conn, {"result": conn.combined, "id": ident})
        else:
            await self._reply(
                conn, {"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": ident}
            )

    async def _reply(self, conn: _Conn, payload: dict) -> None:
        conn.pending.append(orjson.dumps(payload))
        conn.wake.set()

    def _subscribe(self, conn: _Conn, names: list[str]) -> None:
        start = self.market.clock.now_us()
        for name in names:
            if name in conn.streams:
                continue
            conn.streams[name] = start
            symbol, kind = name.split("@", 1)
            if kind in conn.kinds:
                self._subs.setdefault(symbol.upper(), {}).setdefault(kind, set()).add(conn)
                self._due.pop(symbol.upper(), None)

    def _unsubscribe(self, conn: _Conn, names: list[str]) -> None:
        for name in names:
            if conn.streams.pop(name, None) is None:
                continue
            symbol, kind = name.split("@", 1)
            kinds = self._subs.get(symbol.upper(), {})
            kinds.get(kind, set()).discard(conn)

    def _forget(self, conn: _Conn) -> None:
        conn.closed = True
        self.conns.discard(conn)
        self._unsubscribe(conn, list(conn.streams))

    async def _close(self, conn: _Conn, code: int, reason: bytes) -> None:
        self._forget(conn)
        conn.wake.set()
        # asyncio.timeout, unlike 3.11's wait_for, never swallows a cancellation.
        try:
            async with asyncio.timeout(2.0):
                await conn.ws.close(code=code, message=reason)
        except (TimeoutError, ConnectionError, RuntimeError):
            if conn.transport is not None:
                conn.transport.abort()

    # ----------------------------------------------------------------- outgoing
    async def _sender(self, conn: _Conn) -> None:
        try:
            while True:
                await conn.wake.wait()
                conn.wake.clear()
                if conn.closed and conn.close_after_flush is None:
                    return
                remaining = self._stall_until - time.monotonic()
                if remaining > 0:
                    await asyncio.sleep(remaining)
                    conn.wake.set()
                    continue
                self.stats["messages_sent"] += await send_queued(
                    conn.ws, conn.transport, conn.pending
                )
                if conn.close_after_flush is not None:
                    code, reason = conn.close_after_flush
                    await self._close(conn, code, reason)
                    return
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("fake ws %d send failed: %s", conn.ident, exc)
            self._forget(conn)

    async def _ticker(self) -> None:
        clock = self.market.clock
        prev = clock.now_us()
        while not self._stopping:
            await asyncio.sleep(self.tick)
            now = clock.now_us()
            if now <= prev:
                continue
            if self.stalled:
                prev = now
                continue
            if self._lost is not None:
                prev = max(prev, min(self._lost[1], now))
                self._lost = None
            try:
                self._deliver(prev, now)
            except Exception:
                logger.exception("fake ws ticker failed")
            prev = now

    def reset_due(self) -> None:
        """Forget cached next-trade times (after listings or status changes)."""
        self._due.clear()

    def _deliver(self, prev: int, now: int) -> None:
        event_ms = self.market.clock.now_ms()
        due = self._due
        for symbol, kinds in list(self._subs.items()):
            next_at = due.get(symbol)
            if next_at is not None and next_at > now:
                continue
            if not self.market.has_symbol(symbol):
                continue
            nxt = self.market.next_trade_time(symbol, now)
            due[symbol] = nxt if nxt is not None else now + 3_600_000_000
            for kind, conns in kinds.items():
                if not conns:
                    continue
                times, raw = self._encode(symbol, kind, prev + 1, now + 1, event_ms)
                if not raw:
                    continue
                stream = f"{symbol.lower()}@{kind}"
                wrapped = None
                for conn in conns:
                    if conn.close_after_flush is not None:
                        # Closing (serverShutdown, slow consumer): its last frame is queued.
                        continue
                    frames = raw
                    if conn.combined:
                        if wrapped is None:
                            head = b'{"stream":"' + stream.encode() + b'","data":'
                            wrapped = [head + r + b"}" for r in raw]
                        frames = wrapped
                    since = conn.streams.get(stream, 0)
                    if since > prev:
                        frames = [f for f, t in zip(frames, times, strict=True) if t > since]
                    conn.pending.extend(frames)
                    # Trades due by the market clock, against messages_sent: did the fake keep up?
                    self.stats["trades_queued"] += len(frames)
                    if len(conn.pending) > MAX_PENDING_FRAMES:
                        logger.warning("fake ws %d too slow, closing", conn.ident)
                        conn.pending.clear()
                        conn.close_after_flush = (1008, b"slow consumer")
                    conn.wake.set()

    def _encode(
        self, symbol: str, kind: str, start_us: int, end_us: int, event_ms: int
    ) -> tuple[list[int], list[bytes]]:
        if kind == "trade":
            a = self.market.trade_arrays(symbol, start_us, end_us)
            columns = (a.ids, a.price, a.qty, a.time_us, a.buyer_maker)
            frame = self.trade_frame
        else:
            b = self.market.agg_arrays(symbol, start_us, end_us)
            columns = (b.ids, b.price, b.qty, b.first_id, b.last_id, b.time_us, b.buyer_maker)
            frame = self.agg_frame
        times = columns[-2].tolist()
        fmt = self.formats(symbol)
        rows = zip(*(c.tolist() for c in columns), strict=True)
        return times, [frame(symbol, event_ms, fmt, row) for row in rows]

    def formats(self, symbol: str) -> Formats:
        """How a price and a quantity (ints in 1e-8 units) are written: spot's 8 decimals."""
        return fmt8, fmt8

    @staticmethod
    def trade_frame(symbol: str, event_ms: int, fmt: Formats, row: tuple) -> bytes:
        """One `<symbol>@trade` message."""
        price, qty = fmt
        i, p, q, t, m = row
        return (
            f'{{"e":"trade","E":{event_ms},"s":"{symbol}","t":{i},"p":"{price(p)}",'
            f'"q":"{qty(q)}","T":{t // 1000},"m":{"true" if m else "false"},"M":true}}'
        ).encode()

    @staticmethod
    def agg_frame(symbol: str, event_ms: int, fmt: Formats, row: tuple) -> bytes:
        """One `<symbol>@aggTrade` message."""
        price, qty = fmt
        i, p, q, f, last, t, m = row
        return (
            f'{{"e":"aggTrade","E":{event_ms},"s":"{symbol}","a":{i},"p":"{price(p)}",'
            f'"q":"{qty(q)}","f":{f},"l":{last},"T":{t // 1000},'
            f'"m":{"true" if m else "false"},"M":true}}'
        ).encode()

    async def _housekeeping(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for conn in sorted(self.conns, key=lambda c: c.ident):
                try:
                    await self._keepalive(conn, now)
                except (ConnectionError, RuntimeError) as exc:
                    logger.debug("fake ws %d keepalive failed: %s", conn.ident, exc)
                    self._forget(conn)

    async def _keepalive(self, conn: _Conn, now: float) -> None:
        if now - conn.opened >= self.limits.max_connection_age:
            self.stats["closed_age"] += 1
            await self._close(conn, 1000, b"max connection age")
            return
        if conn.unanswered_since is not None and (
            now - conn.unanswered_since >= self.limits.pong_timeout
        ):
            self.stats["closed_pong"] += 1
            await self._close(conn, 1008, b"pong timeout")
            return
        if not self.stalled and now - conn.last_ping >= self.limits.ping_interval:
            conn.last_ping = now
            if conn.unanswered_since is None:
                conn.unanswered_since = now
            await conn.ws.ping(str(int(now * 1000)).encode())

    def stats_snapshot(self) -> dict[str, int]:
        """Counters plus the current connection and subscription counts."""
        out = dict(self.stats)
        out["connections"] = len(self.conns)
        out["subscriptions"] = sum(len(c.streams) for c in self.conns)
        return out


def _json_response(status: int, payload: dict) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")
