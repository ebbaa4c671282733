"""A Binance spot REST client that spends the request-weight budget fully and never gets banned."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from include.settings import get_settings

logger = logging.getLogger(__name__)

WEIGHTS = {"/api/v3/klines": 2, "/api/v3/exchangeInfo": 20, "/api/v3/time": 1}
KLINES_LIMIT = 1000
MINUTE_MS = 60_000
# Binance counts weight in fixed windows aligned to the clock; a little slack absorbs clock skew
# (capped at a fortieth of the window, so short test windows are not mostly slack).
WINDOW_SLACK_S = 0.25
# Left in each window for other clients of the same IP (Airflow runs several tasks at once):
# their requests in flight are not in any header yet.
RESERVE_SHARE = 0.02
# Requests one job keeps in flight: enough to hide the round trip, few enough to stay gentle
# on a shared IP (the Airflow pool's slots per task follow from it: include/rest_pool.py).
REQUESTS_IN_FLIGHT = 8
MAX_SERVER_ERRORS = 5
INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}


class BinanceError(RuntimeError):
    """Binance answered with an error; the message is one line for the CLI."""


class IpBannedError(BinanceError):
    """HTTP 418: the IP is banned; going on would only lengthen the ban."""


@dataclass
class WeightBudget:
    """One REQUEST_WEIGHT budget shared by concurrent requests, paced on X-MBX-USED-WEIGHT-1M.

    The server counts weight per fixed window aligned to the clock. For the current window the
    budget keeps ``seen``, the highest count the server reported for a request sent in it, and
    ``pending``, the weight sent and not answered yet (from any window); a request may go while
    seen + pending + its weight <= limit - reserve. That over-counts (a pending request may
    already be in ``seen``) and never under-counts our own requests. The first request of each
    window goes alone, so its answer reveals what other clients of the same IP spent before
    ours follow.
    A spent budget waits only until the window ends (plus the slack). A 429's Retry-After
    blocks every caller and re-anchors the window phase, and so does a count that fell inside
    what we took for one window. So a server whose windows are not where the clock says costs
    at most one 429 while it is learned, and that on a window's first request, alone in flight,
    so no other request lands inside the Retry-After and earns a 418. After a 418 every caller
    stops at once. ``waits`` and ``slept_s`` count the callers' waits, summed over threads.
    """

    limit: int = 6000
    window_s: float = 60.0
    phase_s: float = 0.0
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    slept_s: float = 0.0
    waits: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _window: int = field(default=-(2**62), repr=False)
    _seen: int = field(default=0, repr=False)
    _answered: bool = field(default=False, repr=False)
    _sent: int = field(default=0, repr=False)
    _pending: int = field(default=0, repr=False)
    _peak_pending: int = field(default=0, repr=False)
    _blocked_until: float = field(default=0.0, repr=False)
    _banned: str | None = field(default=None, repr=False)

    @property
    def reserve(self) -> int:
        """Weight per window this client leaves unspent (RESERVE_SHARE of the limit)."""
        return int(self.limit * RESERVE_SHARE)

    @property
    def peak_in_flight(self) -> int:
        """The most weight this budget has had sent and not answered at once."""
        return self._peak_pending

    @property
    def slack_s(self) -> float:
        """Seconds added after a window's end before it is taken as over."""
        return min(WINDOW_SLACK_S, self.window_s / 40)

    def _index(self, now: float) -> int:
        return math.floor((now - self.phase_s - self.slack_s) / self.window_s)

    def next_reset(self, now: float) -> float:
        """Wall time after which the next window is taken to have begun (slack included)."""
        return (self._index(now) + 1) * self.window_s + self.phase_s + self.slack_s

    def _roll(self, now: float) -> None:
        index = self._index(now)
        if index != self._window:
            self._window, self._seen, self._answered, self._sent = index, 0, False, 0

    def acquire(self, weight: int) -> int:
        """Block until a request of this weight fits; return the window it is sent in."""
        # The block this caller already slept through (trusting `sleep`, which tests stub).
        waited_until = 0.0
        with self._cond:
            while True:
                if self._banned:
                    raise IpBannedError(self._banned)
                now = self.wall()
                self._roll(now)
                if now < self._blocked_until and self._blocked_until > waited_until:
                    pause = self._blocked_until - now
                    waited_until = self._blocked_until
                elif self._sent and not self._answered:
                    # The window's first request is out: its answer tells what others spent.
                    self._cond.wait(timeout=1.0)
                    continue
                elif self._seen + self._pending + weight <= self.limit - self.reserve:
                    self._pending += weight
                    self._peak_pending = max(self._peak_pending, self._pending)
                    self._sent += weight
                    return self._window
                else:
                    pause = self.next_reset(now) - now
                    logger.debug("weight budget spent (%d/%d)", self._seen, self.limit)
                self.waits += 1
                self.slept_s += pause
                self._cond.release()
                try:
                    self.sleep(pause)
                finally:
                    self._cond.acquire()

    def observe(self, used: int | None, weight: int, window: int) -> None:
        """An answer to a request sent in ``window``, with the server's count if it sent one."""
        with self._cond:
            self._pending -= weight
            now = self.wall()
            self._roll(now)
            if window == self._window:
                if used is None:
                    self._seen += weight
                elif used + self._peak_pending < self._seen:
                    # The count fell by more than reordering explains: the server's window
                    # began just now, not where the clock said. (A millisecond back, so float
                    # rounding cannot put `now` at the end of the window before.)
                    self.phase_s = (now - self.slack_s - 0.001) % self.window_s
                    self._roll(now)
                    self._seen = used
                else:
                    self._seen = max(self._seen, used)
                self._answered = True
            self._cond.notify_all()

    def forget(self, weight: int, window: int) -> None:
        """A request that got no answer: it may have been counted, so count it."""
        self.observe(None, weight, window)

    def retry_after(self, seconds: float) -> None:
        """A 429: every caller waits `seconds`, when the server's window ends; learn its phase."""
        with self._cond:
            now = self.wall()
            self.phase_s = (now + seconds) % self.window_s
            self._blocked_until = max(self._blocked_until, now + seconds + self.slack_s)
            self._cond.notify_all()

    def ban(self, message: str) -> None:
        """A 418: no caller sends anything more."""
        with self._cond:
            self._banned = message
            self._cond.notify_all()


@dataclass
class RestStats:
    """What a client did: requests, weight, 429s and server errors."""

    requests: int = 0
    weight: int = 0
    throttled_429: int = 0
    server_errors: int = 0


class BinanceRest:
    """Client for the public market-data endpoints (no API key needed); safe to share by threads.

    Every thread's requests draw from the one WeightBudget, so a pool of threads keeps several
    requests in flight and is limited by the weight budget rather than by latency.
    """

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
        self._limits_lock = threading.Lock()
        self._stats_lock = threading.Lock()
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
            window = self.budget.acquire(weight)
            try:
                response = self._http.get(path, params=params)
            except httpx.TransportError as err:
                self.budget.forget(weight, window)
                server_errors += 1
                if server_errors > self.max_server_errors:
                    raise BinanceError(f"{self.base_url}{path}: {err!r}") from err
                self.budget.sleep(min(2**server_errors, 30))
                continue
            used = response.headers.get("x-mbx-used-weight-1m")
            self.budget.observe(int(used) if used and used.isdigit() else None, weight, window)
            with self._stats_lock:
                self.stats.requests += 1
                self.stats.weight += weight
            if response.status_code == 200:
                return orjson.loads(response.content)
            retry = _retry_after(response)
            if response.status_code == 429:
                with self._stats_lock:
                    self.stats.throttled_429 += 1
                logger.warning("429 from Binance: waiting %s s as Retry-After asks", retry)
                self.budget.retry_after(retry)
                continue
            if response.status_code == 418:
                message = (
                    f"Binance banned this IP (HTTP 418) for {retry:.0f} s: stopped; "
                    "rerun after the ban, the job resumes where it stopped"
                )
                self.budget.ban(message)
                raise IpBannedError(message)
            if response.status_code >= 500:
                server_errors += 1
                with self._stats_lock:
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
        with self._limits_lock:
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
