"""The door of every HTTP request and WebSocket handshake (Guard), the tokens it takes, and the
uvicorn settings that decide who the client is."""

from __future__ import annotations

import contextlib
import hmac
import time
from http.cookies import CookieError, SimpleCookie

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from api.binance import json_response
from api.config import ApiConfig
from api.limits import (
    ConnectionCap,
    HandshakeRate,
    WeightLimiter,
    host_allowed,
    origin_allowed,
    weight_of,
)
from api.metrics import Metrics


def server_config(app: ASGIApp, config: ApiConfig, **options: object) -> uvicorn.Config:
    """uvicorn's settings for the API. X-Forwarded-For and -Proto are believed only from
    API_TRUSTED_PROXIES: uvicorn's default believes any loopback peer, so a local client could
    name a new address per request and never meet its weight limit."""
    proxies = sorted(config.trusted_proxies)
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        lifespan="on",
        ssl_certfile=config.tls_cert,
        ssl_keyfile=config.tls_key,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or "",
        **options,  # type: ignore[arg-type]
    )


# The chart page's session: its token in an HttpOnly, SameSite=Strict cookie, so the page's
# WebSocket (a browser cannot set its headers) carries it without the token in any URL.
SESSION_COOKIE = "api_token"


def token_of(headers: dict[str, str], query: str, *, allow_query: bool = True) -> str | None:
    """X-MBX-APIKEY, a bearer token, the chart page's session cookie, or (only while the API
    listens on loopback) ?token=."""
    if headers.get("x-mbx-apikey"):
        return headers["x-mbx-apikey"]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if headers.get("cookie"):
        jar = SimpleCookie()
        with contextlib.suppress(CookieError):
            jar.load(headers["cookie"])
        if SESSION_COOKIE in jar:
            return jar[SESSION_COOKIE].value
    if allow_query:
        for part in query.split("&"):
            if part.startswith("token="):
                return part[6:]
    return None


def token_in_url(query: str) -> bool:
    """Whether the query string carries ?token=."""
    return any(part.startswith("token=") for part in query.split("&"))


class Guard:
    """Pure ASGI middleware: the door of every HTTP request and WebSocket handshake.

    In order: the Host header (only the configured names: a DNS-rebinding page names its own),
    the connection caps (the process's, one address's, a WebSocket's handshake rate), the token
    (when tokens are set), the WebSocket's Origin, the client's request weight (Binance's: a
    429 with -1003 and Retry-After past the limit, the minute's total on every metered answer),
    then the request count and latency."""

    def __init__(
        self, app: ASGIApp, config: ApiConfig, metrics: Metrics, weights: WeightLimiter
    ) -> None:
        self.app = app
        self.tokens = [t.encode() for t in config.tokens]
        # Exposed beyond loopback, a token in a URL (logged by proxies, kept in histories) is
        # refused outright: headers, or the chart page's cookie, only.
        self.url_tokens = not config.exposed
        self.metrics = metrics
        self.origins = config.cors_origins
        self.hosts = config.host_names
        # Shared with gRPC: one budget per address, whichever door a request comes in by.
        self.weights = weights
        self.connections = ConnectionCap(config.max_connections, config.max_connections_per_address)
        self.handshakes = HandshakeRate(config.ws_connections_per_5m)

    def _allowed(self, scope: Scope, headers: dict[str, str]) -> bool:
        if not self.tokens:
            return True
        path = scope["path"]
        # What anyone may fetch without a token: the page and its script hold no data.
        if path == "/" or path == "/healthz" or path.startswith("/static/"):
            return True
        query = scope.get("query_string", b"").decode("latin-1")
        if not self.url_tokens and token_in_url(query):
            return False
        token = token_of(headers, query, allow_query=self.url_tokens)
        if token is None:
            return False
        given = token.encode()
        return any(hmac.compare_digest(given, t) for t in self.tokens)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        client = client_of(scope)
        refusal = None
        if not host_allowed(headers.get("host"), self.hosts):
            refusal = "Host not allowed"
        elif not self.handshakes.take(client):
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": "Busy"})
            return
        elif not self._allowed(scope, headers):
            refusal = "API-key required"
        elif not origin_allowed(headers.get("origin"), headers.get("host"), self.origins):
            refusal = "Origin not allowed"
        elif not self.connections.take(client):
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": "Busy"})
            return
        if refusal is not None:
            await send({"type": "websocket.close", "code": 1008, "reason": refusal})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.connections.give_back(client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check, time and count one HTTP request or WebSocket handshake."""
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        route = path if path.startswith(("/api/", "/udf/")) else "other"
        status = 500
        used_header: list[tuple[bytes, bytes]] = []

        async def counting_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if used_header:
                    message = {**message, "headers": [*message.get("headers", []), *used_header]}
            await send(message)

        headers = _headers(scope)
        if not host_allowed(headers.get("host"), self.hosts):
            try:
                await json_response(WRONG_HOST, 400)(scope, receive, counting_send)
            finally:
                self.metrics.requests.labels(route, str(status)).inc()
            return
        client = client_of(scope)
        if not self.connections.take(client):
            try:
                await json_response(BUSY, 503)(scope, receive, counting_send)
            finally:
                self.metrics.requests.labels(route, str(status)).inc()
            return
        try:
            weight = weight_of(path, scope.get("query_string", b"").decode("latin-1"))
            if not self._allowed(scope, headers):
                response = json_response({"code": -2014, "msg": "API-key format invalid."}, 401)
                await response(scope, receive, counting_send)
                return
            if weight:
                spent = self.weights.spend(client, weight)
                used = str(spent.used).encode()
                used_header += [(b"x-mbx-used-weight", used), (b"x-mbx-used-weight-1m", used)]
                if not spent.allowed:
                    response = json_response(self.weights.over_limit_body(), 429)
                    response.headers["retry-after"] = str(spent.retry_after)
                    await response(scope, receive, counting_send)
                    return
            await self.app(scope, receive, counting_send)
        finally:
            self.connections.give_back(client)
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


# Binance's answer when it is too busy to take a request.
BUSY = {
    "code": -1008,
    "msg": "Server is currently overloaded with other requests. Please try again in a few minutes.",
}
# A Host header not among the configured names (a DNS-rebinding page's, or a typo).
WRONG_HOST = {"code": -1000, "msg": "Host not allowed: the API answers API_ALLOWED_HOSTS only."}
# WebSocket close code 1013: the server is overloaded, try again later.
TRY_AGAIN_LATER = 1013


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def client_of(scope: Scope) -> str:
    """The client's address, whose weight a request counts against (Binance: per IP)."""
    client = scope.get("client")
    return client[0] if client else "unknown"
