"""Binance's kline stream protocol over WebSocket: /ws, /ws/<streams>, /stream?streams=.

SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY with ids, raw or
combined frames, Binance's limits: at most 1024 streams per connection (the request over it
gets an error frame and the connection closes) and 5 incoming messages per second (over it,
disconnected).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import NamedTuple

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from api.binance import continuous_event, kline_event, parse_continuous
from api.config import ApiConfig
from api.precision import contract_row
from api.push import Hub, Subscriber
from api.push.event import CandleEvent
from api.wire import Wire

logger = logging.getLogger(__name__)

POLICY_VIOLATION = 1008


class Frames(NamedTuple):
    """One kline event as a stream carries it, bare and in a combined stream's frame: as text
    for the ASGI path, as bytes for the wire (api/wire.py)."""

    raw: str
    combined: str
    raw_data: bytes
    combined_data: bytes


class WsConnection(Subscriber):
    """One client: its streams, its outgoing queue and its sender task."""

    def __init__(
        self, ws: WebSocket, hub: Hub, config: ApiConfig, combined: bool, wire: Wire | None = None
    ) -> None:
        self.ws = ws
        self.wire = wire
        # The sender is handing a frame to the ASGI path (it may wait there for the transport):
        # a frame written to the wire meanwhile would overtake it.
        self.sending = False
        self.hub = hub
        self.config = config
        self.combined = combined
        self.streams: dict[str, tuple[str, str]] = {}
        self.queue: collections.deque[str] = collections.deque()
        self.wake = asyncio.Event()
        self.incoming: collections.deque[float] = collections.deque()
        self.closing: tuple[int, str] | None = None

    @staticmethod
    def encode(hub: Hub, stream: str, candle: CandleEvent) -> Frames:
        """Binance's kline event of the candle (a futures contract's at its places; on a
        continuousKline stream, that stream's event), bare and in a combined stream's frame."""
        row = candle.row
        if (places := hub.places(candle.symbol)) is not None:
            row = contract_row(row, places)
        event = kline_event(
            candle.symbol,
            candle.key,
            row,
            closed=candle.closed,
            event_ms=candle.event_ms,
            first_trade_id=candle.first_trade_id,
            last_trade_id=candle.last_trade_id,
        )
        if parse_continuous(stream) is not None:
            event = continuous_event(event)
        raw = orjson.dumps(event)
        combined = b'{"stream":"%s","data":%s}' % (stream.encode(), raw)
        return Frames(raw.decode(), combined.decode(), raw, combined)

    def deliver(self, form: Frames) -> bool:
        """Write a frame now (api/wire.py) or queue it; False once the client has fallen too
        far behind."""
        if len(self.queue) >= self.config.max_queued_frames:
            return False
        if (
            self.wire is not None
            and not self.queue
            and not self.sending
            and self.closing is None
            and self.wire.write(form.combined_data if self.combined else form.raw_data)
        ):
            return True
        self.queue.append(form.combined if self.combined else form.raw)
        self.wake.set()
        return True

    def cut(self) -> None:
        """Stop feeding a client that cannot keep up and close it."""
        self.drop_all()
        self.queue.clear()
        self.close_after_flush(POLICY_VIOLATION, "Too slow")

    def close_after_flush(self, code: int, reason: str) -> None:
        """Send what is queued, then close."""
        self.closing = (code, reason)
        self.wake.set()

    def drop_all(self) -> None:
        """Leave every stream."""
        for name, (symbol, interval) in list(self.streams.items()):
            self.hub.unsubscribe(self, name, symbol, interval)
        self.streams.clear()

    def reply(self, payload: dict) -> None:
        """Queue a response frame ahead of nothing: responses keep their order with events. A
        client that asks without reading the answers is cut off like a slow one, so its
        queue stays bounded."""
        if len(self.queue) >= self.config.max_queued_frames:
            self.cut()
            return
        self.queue.append(orjson.dumps(payload).decode())
        self.wake.set()

    # ----------------------------------------------------------------- protocol
    def add(self, names: list[str]) -> None:
        """Subscribe to already-validated stream names."""
        for name in names:
            if name in self.streams:
                continue
            symbol, interval = self.hub.parse(name)  # type: ignore[misc]
            self.streams[name] = (symbol, interval)
            self.hub.subscribe(self, name, symbol, interval)

    def remove(self, names: list[str]) -> None:
        """Unsubscribe; unknown names are ignored, as Binance does."""
        for name in names:
            pair = self.streams.pop(name, None)
            if pair is not None:
                self.hub.unsubscribe(self, name, *pair)

    def on_text(self, text: str) -> None:
        """Answer one request frame."""
        try:
            req = orjson.loads(text)
            method = req["method"]
            ident = req.get("id")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.reply({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        if not isinstance(ident, int | str | type(None)) or isinstance(ident, bool):
            self.reply({"error": {"code": 1, "msg": "Invalid value type: id"}, "id": None})
            return
        params = req.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                self.reply({"error": {"code": 1, "msg": "Invalid value type: params"}, "id": ident})
                return
            bad = [p for p in params if self.hub.parse(p) is None]
            if bad:
                self.reply(
                    {
                        "error": {"code": 2, "msg": f"Invalid request: invalid stream {bad[0]}"},
                        "id": ident,
                    }
                )
                return
            if method == "UNSUBSCRIBE":
                self.remove(params)
            else:
                new = set(params) - set(self.streams)
                if len(self.streams) + len(new) > self.config.max_streams:
                    self.drop_all()
                    msg = f"Too many streams: at most {self.config.max_streams} per connection"
                    self.reply({"error": {"code": 2, "msg": msg}, "id": ident})
                    self.close_after_flush(POLICY_VIOLATION, "Too many streams")
                    return
                self.add(params)
            self.reply({"result": None, "id": ident})
        elif method == "LIST_SUBSCRIPTIONS":
            self.reply({"result": list(self.streams), "id": ident})
        elif method == "SET_PROPERTY":
            if (
                isinstance(params, list)
                and len(params) == 2
                and params[0] == "combined"
                and isinstance(params[1], bool)
            ):
                self.combined = params[1]
                self.reply({"result": None, "id": ident})
            else:
                self.reply({"error": {"code": 2, "msg": "Invalid request: property"}, "id": ident})
        elif method == "GET_PROPERTY":
            if isinstance(params, list) and params == ["combined"]:
                self.reply({"result": self.combined, "id": ident})
            else:
                self.reply({"error": {"code": 2, "msg": "Invalid request: property"}, "id": ident})
        else:
            self.reply(
                {
                    "error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"},
                    "id": ident,
                }
            )

    def over_rate(self) -> bool:
        """Count an incoming message; True when this second has seen too many."""
        now = time.monotonic()
        self.incoming.append(now)
        while self.incoming and self.incoming[0] <= now - 1.0:
            self.incoming.popleft()
        return len(self.incoming) > self.config.max_incoming_per_sec

    # ----------------------------------------------------------------- tasks
    async def sender(self) -> None:
        """Write queued frames in order; close when asked to."""
        ws = self.ws
        while True:
            while self.queue:
                self.sending = True
                try:
                    await ws.send_text(self.queue.popleft())
                finally:
                    self.sending = False
            if self.closing is not None:
                code, reason = self.closing
                await ws.close(code, reason)
                return
            self.wake.clear()
            if not self.queue and self.closing is None:
                await self.wake.wait()

    async def reader(self) -> None:
        """Read requests until the client goes or breaks a limit."""
        while self.closing is None:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if self.over_rate():
                self.drop_all()
                self.queue.clear()
                self.close_after_flush(POLICY_VIOLATION, "Too many requests")
                return
            if message.get("text") is not None:
                self.on_text(message["text"])
            else:
                self.reply(
                    {"error": {"code": 3, "msg": "Binary frames are not supported"}, "id": None}
                )


async def serve(ws: WebSocket, hub: Hub, config: ApiConfig, metrics) -> None:
    """Handle one WebSocket connection from accept to close (``hub``: its market's)."""
    # /stream, or a futures market's /fws/stream and /fws/market/stream (names hold an @).
    combined = ws.url.path.endswith("/stream")
    source = ws.query_params if combined else ws.path_params
    raw = source.get("streams", "")
    names = [s for s in raw.split("/") if s]
    if not combined:
        # /ws/<anything>: Binance accepts any path there and subscribes what names a stream;
        # ccxt.pro opens /ws/<its connection number> and then sends SUBSCRIBE.
        names = [n for n in names if hub.parse(n) is not None]
    if len(names) > config.max_streams or any(hub.parse(n) is None for n in names):
        await ws.close(POLICY_VIOLATION, "Invalid stream name or too many streams")
        return
    await ws.accept()
    conn = WsConnection(ws, hub, config, combined, Wire.of(ws.scope))
    conn.add(names)
    metrics.connections.inc()
    sender = asyncio.ensure_future(conn.sender())
    reader = asyncio.ensure_future(conn.reader())
    try:
        await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        if reader.done() and conn.closing is not None:
            # Let the sender flush the error frame and the close.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(sender), 5)
    except (WebSocketDisconnect, OSError):
        pass
    finally:
        conn.drop_all()
        metrics.connections.dec()
        for task in (sender, reader):
            task.cancel()
        for task in (sender, reader):
            with contextlib.suppress(BaseException):
                await task
        if ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close()
