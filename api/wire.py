"""A WebSocket's wire: its text frames written straight to the server's connection.

A live candle goes to thousands of clients at once. Through ASGI each frame is a task wake-up
and a chain of awaits per client (Starlette's send, the server's send), several times the cost
of writing the frame; `websockets.broadcast` writes it synchronously to each connection. The
push does the same where it can: when a client has nothing queued and its transport takes data
(not paused by a full buffer), the frame is framed, compressed and written now, by the
connection's own protocol, in the order it would have been sent. Otherwise it goes on the
client's queue as before, where the slow-client cut counts it.

This reaches into uvicorn's websockets-sansio protocol (uvicorn is pinned in requirements.txt;
tests/api/test_ws_wire.py checks the attributes it uses). Any other server, or uvicorn with
another WebSocket implementation, has no wire: every frame takes the ASGI path.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

# The scope key the server's connection is kept under for the WebSocket's handler.
SCOPE_KEY = "api.wire"


class Wire:
    """Synchronous text frames on one uvicorn websockets-sansio connection."""

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self.protocol = protocol

    @classmethod
    def of(cls, scope: Scope) -> Wire | None:
        """The wire of a WebSocket's scope, None when its server gives none."""
        protocol = scope.get(SCOPE_KEY)
        return cls(protocol) if protocol is not None else None

    def write(self, data: bytes) -> bool:
        """Write one text frame now; False when it cannot go now (the transport's buffer is
        full, or the connection is not open), and the caller queues it instead."""
        p = self.protocol
        if (
            not p.handshake_complete
            or p.close_sent
            or p.disconnected
            or not p.writable.is_set()
            or p.transport.is_closing()
        ):
            return False
        try:
            p.conn.send_text(data)
            p.transport.write(b"".join(p.conn.data_to_send()))
        except (InvalidState, OSError, RuntimeError):
            # The connection is going: the ASGI path meets the same end and handles it, in
            # this client's own sender task, so one client's error stops no other's frame.
            return False
        return True


class WireMiddleware:
    """Keeps a WebSocket's server connection in its scope (SCOPE_KEY). It must sit where the
    ``send`` it is given is still the server's own (Starlette wraps it further in): outside
    the routes, inside nothing that wraps a WebSocket's send."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if isinstance(protocol, WebSocketsSansIOProtocol):
                scope = {**scope, SCOPE_KEY: protocol}
        await self.app(scope, receive, send)
