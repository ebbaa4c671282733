"""What one client may take: request weight per minute as Binance counts it, a cap on open
connections, and which web pages may open a WebSocket.

Binance limits REQUEST_WEIGHT per IP per minute (6,000 today), tells every answer how much of
it the IP used (``X-MBX-USED-WEIGHT-1M``) and answers 429 with code -1003 and ``Retry-After``
once it is spent: the same here, so a client written for Binance backs off here too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import orjson

from include.platform.markets import COINM, USDM

# Request weight of each route, Binance's where Binance has the route. The UDF history reads
# up to MAX_BARS (api/udf.py) bars, five klines pages.
WEIGHTS = {
    "/api/v3/klines": 2,
    "/api/v3/uiKlines": 2,
    # Binance: 2 for one symbol, 4 for several or all.
    "/api/v3/ticker/price": 4,
    "/api/v3/avgPrice": 2,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/udf/config": 1,
    "/udf/symbols": 1,
    "/udf/search": 1,
    "/udf/time": 1,
    "/udf/history": 10,
}
# Anything else under these prefixes costs 1 (an unknown path still costs something).
WEIGHED_PREFIXES = ("/api/", "/udf/", "/fapi/", "/dapi/")
# Binance's futures paths weigh as Binance weighs them (klines by the limit sent).
FUTURES_PREFIXES = {USDM.rest_prefix + "/": USDM, COINM.rest_prefix + "/": COINM}
WINDOW_S = 60


# Routes whose weight is less for one symbol than for several or all (Binance's rule).
ONE_SYMBOL_WEIGHTS = {"/api/v3/ticker/price": 2}


def _asked(query: str) -> tuple[bool, int | None]:
    """(``symbol`` sent, how many ``symbols`` were sent or None) from a raw query string."""
    params = parse_qs(query)
    try:
        symbols = orjson.loads(params["symbols"][0]) if "symbols" in params else None
    except orjson.JSONDecodeError:
        symbols = None
    return "symbol" in params, len(symbols) if isinstance(symbols, list) else None


def _ticker_24hr_weight(query: str) -> int:
    """Binance: 2 for one symbol or 1-20 symbols, 40 for 21-100, 80 for more or all."""
    one, n = _asked(query)
    if one or (n is not None and n <= 20):
        return 2
    return 40 if n is not None and n <= 100 else 80


def _rolling_ticker_weight(query: str) -> int:
    """Binance: 4 per symbol asked, capped at 200 beyond 50 symbols."""
    one, n = _asked(query)
    return 4 if one or not n else min(4 * n, 200)


# Routes whose weight depends on how many symbols are asked.
COUNTED_WEIGHTS = {
    "/api/v3/ticker/24hr": _ticker_24hr_weight,
    "/api/v3/ticker": _rolling_ticker_weight,
}


def weight_of(path: str, query: str = "") -> int:
    """The request weight of a path; 0 for what is not metered (the page, health, metrics)."""
    if path in ONE_SYMBOL_WEIGHTS and any(p.startswith("symbol=") for p in query.split("&")):
        return ONE_SYMBOL_WEIGHTS[path]
    if path in COUNTED_WEIGHTS:
        return COUNTED_WEIGHTS[path](query)
    if path in WEIGHTS:
        return WEIGHTS[path]
    for prefix, market in FUTURES_PREFIXES.items():
        if path.startswith(prefix):
            params = parse_qs(query)
            limit = params.get("limit", ["500"])[0]
            return market.weight(
                path,
                {
                    "limit": int(limit) if limit.isdigit() else 500,
                    "symbol": params.get("symbol", [""])[0],
                },
            )
    return 1 if path.startswith(WEIGHED_PREFIXES) else 0


@dataclass(frozen=True)
class Spent:
    """The answer to one request's weight: allowed or not, the minute's total, when to retry."""

    allowed: bool
    used: int
    retry_after: int


class WeightLimiter:
    """Request weight per client per calendar minute (Binance's windows), in memory."""

    def __init__(self, limit: int, clock=time.time) -> None:
        self.limit = limit
        self.clock = clock
        self.minute = -1
        self.used: dict[str, int] = {}

    def spend(self, client: str, weight: int) -> Spent:
        """Take ``weight`` for ``client`` in the current minute, unless it would pass the limit."""
        now = self.clock()
        minute = int(now // WINDOW_S)
        if minute != self.minute:
            # A new minute: every client starts over (and the old minute's table is freed).
            self.minute, self.used = minute, {}
        used = self.used.get(client, 0)
        if self.limit > 0 and used + weight > self.limit:
            retry = max(1, math.ceil((minute + 1) * WINDOW_S - now))
            return Spent(False, used, retry)
        used += weight
        self.used[client] = used
        return Spent(True, used, 0)

    def over_limit_body(self) -> dict:
        """Binance's -1003 body."""
        return {
            "code": -1003,
            "msg": f"Too much request weight used; current limit is {self.limit} request weight "
            "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
        }


class ConnectionCap:
    """At most ``limit`` HTTP requests in flight and WebSockets open at once, ``per_address``
    of them from one address (0: no cap)."""

    def __init__(self, limit: int, per_address: int = 0) -> None:
        self.limit = limit
        self.per_address = per_address
        self.open = 0
        self.by_address: dict[str, int] = {}

    def take(self, address: str = "") -> bool:
        """Take a place, or False when every place (or the address's share) is taken."""
        if self.limit > 0 and self.open >= self.limit:
            return False
        mine = self.by_address.get(address, 0)
        if self.per_address > 0 and mine >= self.per_address:
            return False
        self.open += 1
        self.by_address[address] = mine + 1
        return True

    def give_back(self, address: str = "") -> None:
        self.open -= 1
        left = self.by_address.get(address, 1) - 1
        if left > 0:
            self.by_address[address] = left
        else:
            self.by_address.pop(address, None)


# Binance: 300 WebSocket connection attempts per 5 minutes per IP.
HANDSHAKE_WINDOW_S = 300


class HandshakeRate:
    """WebSocket handshakes per address per 5-minute window (0: no limit), in memory."""

    def __init__(self, limit: int, clock=time.time) -> None:
        self.limit = limit
        self.clock = clock
        self.window = -1
        self.count: dict[str, int] = {}

    def take(self, address: str) -> bool:
        """Count one handshake; False past the window's limit."""
        window = int(self.clock() // HANDSHAKE_WINDOW_S)
        if window != self.window:
            self.window, self.count = window, {}
        used = self.count.get(address, 0)
        if self.limit > 0 and used >= self.limit:
            return False
        self.count[address] = used + 1
        return True


def host_allowed(host: str | None, names: frozenset[str]) -> bool:
    """Whether a Host header names the API (any port): one of ``names`` (``*`` for any). No
    Host (HTTP/1.0, a program) passes: a browser always sends one."""
    if not host or "*" in names:
        return True
    name = host.strip().lower()
    bracketed = name.startswith("[")
    return (name[: name.find("]") + 1] if bracketed else name.rsplit(":", 1)[0]) in names


def origin_allowed(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    """Whether a WebSocket handshake may come from this page: no Origin (not a browser), the
    API's own page (same host and port), or an origin in API_CORS_ORIGINS (``*`` for any)."""
    if not origin:
        return True
    if "*" in allowed or origin.rstrip("/") in allowed:
        return True
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()
