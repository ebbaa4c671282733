"""A Binance spot REST client that spends the request-weight budget fully and never gets banned."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from include.settings import get_settings

logger = logging.getLogger(__name__)

WEIGHTS = {"/api/v3/klines": 2, "/api/v3/exchangeInfo": 20, "/api/v3/time": 1}
KLINES_LIMIT = 1000
MINUTE_MS = 60_000
# Binance counts weight in fixed windows aligned to the clock; a little slack absorbs clock skew.
WINDOW_SLACK_S = 0.25
MAX_SERVER_ERRORS = 5
INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}


class BinanceError(RuntimeError):
    """Binance answered with an error; the message is one line for the CLI."""


class IpBannedError(BinanceError):
    """HTTP 418: the IP is banned; going on would only lengthen the ban."""


@dataclass
class WeightBudget:
    """REQUEST_WEIGHT accounting from the X-MBX-USED-WEIGHT-1M header, per fixed window.

    Windows are assumed aligned to the wall clock (Binance's are); a 429's Retry-After or an
    observed reset of the used weight re-anchors the phase, so a server with another phase is
    learned after at most one surprise.
    """

    limit: int = 6000
    window_s: float = 60.0
    used: int = 0
    phase_s: float = 0.0
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    slept_s: float = 0.0
    _window_index: int = field(default=-1, repr=False)

    def _index(self, now: float) -> int:
        return math.floor((now - self.phase_s) / self.window_s)

    def next_reset(self, now: float) -> float:
        """Wall time at which the current window ends."""
        return (self._index(now) + 1) * self.window_s + self.phase_s

    def acquire(self, weight: int) -> None:
        """Block until a request of this weight fits in the current window."""
        now = self.wall()
        if self._index(now) != self._window_index:
            self._window_index, self.used = self._index(now), 0
        if self.used + weight <= self.limit:
            return
        pause = self.next_reset(now) - now + WINDOW_SLACK_S
        logger.info("weight budget spent (%d/%d): waiting %.1f s", self.used, self.limit, pause)
        self.sleep(pause)
        self.slept_s += pause
        self._window_index, self.used = self._index(self.wall()), 0

    def observe(self, used: int | None, weight: int, sent_at: float) -> None:
        """Take the server's count; a count that fell means a window began before sent_at."""
        if used is None:
            self.used += weight
            return
        if used < self.used and used <= weight * 2:
            self.phase_s = sent_at % self.window_s
            self._window_index = self._index(self.wall())
        self.used = used

    def retry_after(self, seconds: float) -> None:
        """A 429: the window ends in `seconds`; wait for it and remember its phase."""
        now = self.wall()
        self.phase_s = (now + seconds) % self.window_s
        self.sleep(seconds + WINDOW_SLACK_S)
        self.slept_s += seconds + WINDOW_SLACK_S
        self._window_index, self.used = self._index(self.wall()), 0


@dataclass
class RestStats:
    """What a client did: requests, weight, 429s and seconds spent waiting for budget."""

    requests: int = 0
    weight: int = 0
    throttled_429: int = 0
    server_errors: int = 0


class BinanceRest:
    """Synchronous client for the public market-data endpoints (no API key needed)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        budget: WeightBudget | None = None,
        transport: httpx.BaseTransport | None = None,
        max_server_errors: int = MAX_SERVER_ERRORS,
    ) -> None:
        self.base_url = (base_url or get_settings().binance_rest_url).rstrip("/")
        self.budget = budget or WeightBudget()
        self.stats = RestStats()
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._limits_loaded = False
        self.max_server_errors = max_server_errors

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> BinanceRest:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON endpoint inside the weight budget; 429 waits, 418 stops with a reason."""
        weight = WEIGHTS.get(path, 1)
        server_errors = 0
        while True:
            self.budget.acquire(weight)
            sent_at = self.budget.wall()
            try:
                response = self._http.get(path, params=params)
            except httpx.TransportError as err:
                server_errors += 1
                if server_errors > self.max_server_errors:
                    raise BinanceError(f"{self.base_url}{path}: {err!r}") from err
                self.budget.sleep(min(2**server_errors, 30))
                continue
            self.stats.requests += 1
            self.stats.weight += weight
            used = response.headers.get("x-mbx-used-weight-1m")
            self.budget.observe(int(used) if used and used.isdigit() else None, weight, sent_at)
            if response.status_code == 200:
                return response.json()
            retry = _retry_after(response)
            if response.status_code == 429:
                self.stats.throttled_429 += 1
                logger.warning("429 from Binance: waiting %s s as Retry-After asks", retry)
                self.budget.retry_after(retry)
                continue
            if response.status_code == 418:
                raise IpBannedError(
                    f"Binance banned this IP (HTTP 418) for {retry:.0f} s: stopped; "
                    "rerun after the ban, the job resumes where it stopped"
                )
            if response.status_code >= 500:
                server_errors += 1
                self.stats.server_errors += 1
                if server_errors > self.max_server_errors:
                    raise BinanceError(f"{path}: HTTP {response.status_code} from Binance")
                self.budget.sleep(min(2**server_errors, 30))
                continue
            raise BinanceError(
                f"{path} {params or ''}: HTTP {response.status_code} {_msg(response)}"
            )

    def exchange_info(self, symbols: list[str] | None = None) -> dict[str, Any]:
        """exchangeInfo; also adopts its live REQUEST_WEIGHT limit and window."""
        params = {"symbols": "[" + ",".join(f'"{s}"' for s in symbols) + "]"} if symbols else None
        info = self.get("/api/v3/exchangeInfo", params)
        for limit in info.get("rateLimits", []):
            if limit.get("rateLimitType") == "REQUEST_WEIGHT":
                seconds = INTERVAL_SECONDS[limit["interval"]] * int(limit.get("intervalNum", 1))
                self.budget.limit, self.budget.window_s = int(limit["limit"]), float(seconds)
        self._limits_loaded = True
        return info

    def server_time_ms(self) -> int:
        """The exchange's clock in epoch milliseconds."""
        return int(self.get("/api/v3/time")["serverTime"])

    def klines_1m(self, symbol: str, start_ms: int, end_ms: int) -> list[list[Any]]:
        """Up to 1000 1m klines with start_ms <= open_time <= end_ms, oldest first."""
        if not self._limits_loaded:
            self.exchange_info()
        return self.get(
            "/api/v3/klines",
            {
                "symbol": symbol,
                "interval": "1m",
                "startTime": start_ms,
                "endTime": end_ms,
                "limit": KLINES_LIMIT,
            },
        )


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(float(value), 1.0)
    except ValueError:
        return 60.0


def _msg(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].replace("\n", " ")
    if isinstance(body, dict) and "msg" in body:
        return f"(code {body.get('code')}): {body['msg']}"
    return str(body)[:200]
