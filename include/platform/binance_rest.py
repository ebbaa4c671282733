"""The one Binance spot REST client: weight table, weight budget and retry policy, sync and async.

Every part that calls Binance REST goes through here: the batch jobs through BinanceRest
(threads), the streamer's repairs through AsyncBinanceRest (its event loop). Both spend the
request-weight budget fully and never get banned.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import psycopg
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from include.platform.settings import get_settings
from include.sql import load_sql

logger = logging.getLogger(__name__)

# Binance's request weights of every endpoint the platform calls.
WEIGHTS = {
    "/api/v3/klines": 2,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/time": 1,
    "/api/v3/aggTrades": 4,
    "/api/v3/historicalTrades": 25,
    # Without a symbol (every symbol at once), the only way the platform asks for it.
    "/api/v3/ticker/24hr": 80,
}
KLINES_LIMIT = 1000
# Binance counts weight in fixed windows aligned to the clock; a little slack absorbs clock skew
# (capped at a fortieth of the window, so short test windows are not mostly slack).
WINDOW_SLACK_S = 0.25
# Left in each window for other clients of the same IP (Airflow runs several tasks at once):
# their requests in flight are not in any header yet.
RESERVE_SHARE = 0.02
# Requests one job keeps in flight: enough to hide the round trip, few enough to stay gentle
# on a shared IP (the Airflow pool's slots per task follow from it: include/platform/rest_pool.py).
REQUESTS_IN_FLIGHT = 8
MAX_SERVER_ERRORS = 5
INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every HTTP client of the process: httpx builds a new one
    per client by reading the CA bundle, about 20 ms, which each short-lived client (a task, a
    CLI command, a heal run) paid again."""
    return httpx.create_ssl_context()


class BinanceError(RuntimeError):
    """Binance answered with an error; the message is one line for the CLI."""


class IpBannedError(BinanceError):
    """HTTP 418: the IP is banned; going on would only lengthen the ban."""


class RetryableError(BinanceError):
    """A failed attempt worth another: no answer, a 5xx, an unreadable body."""


class ThrottledError(RetryableError):
    """A 429: the budget holds every caller for its Retry-After, so the retry need not wait."""


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
    reserve_share: float = RESERVE_SHARE
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    slept_s: float = 0.0
    waits: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _answer_waiters: list[asyncio.Future[None]] = field(default_factory=list, repr=False)
    _window: int = field(default=-(2**62), repr=False)
    _seen: int = field(default=0, repr=False)
    _answered: bool = field(default=False, repr=False)
    _sent: int = field(default=0, repr=False)
    _pending: int = field(default=0, repr=False)
    _peak_pending: int = field(default=0, repr=False)
    _blocked_until: float = field(default=0.0, repr=False)
    _banned: str | None = field(default=None, repr=False)
    _banned_until: float = field(default=0.0, repr=False)

    @property
    def reserve(self) -> int:
        """Weight per window this client leaves unspent (reserve_share of the limit)."""
        return int(self.limit * self.reserve_share)

    def banned_for(self) -> float:
        """Seconds the IP ban (418) still runs; 0 when not banned."""
        return max(0.0, self._banned_until - self.wall()) if self._banned else 0.0

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

    def _admit(
        self, weight: int, waited_until: float, headroom: int = 0
    ) -> tuple[int | None, float | None, float]:
        """The decision, under the lock and without waiting: may this request go now?

        Returns (window, None, _) to send in ``window``; (None, pause, _) to wait ``pause``
        seconds; (None, None, _) to wait for the window's first answer. The last item is the
        block the caller will have slept through, passed back on its next call. ``headroom``
        is weight of the window this request must leave to others (urgent ones).
        """
        now = self.wall()
        if self.banned_for() > 0:
            raise IpBannedError(self._banned)
        self._roll(now)
        if now < self._blocked_until and self._blocked_until > waited_until:
            pause, waited_until = self._blocked_until - now, self._blocked_until
        elif self._sent and not self._answered:
            # The window's first request is out: its answer tells what others spent.
            return None, None, waited_until
        elif self._seen + self._pending + weight <= self.limit - self.reserve - headroom:
            self._pending += weight
            self._peak_pending = max(self._peak_pending, self._pending)
            self._sent += weight
            return self._window, None, waited_until
        else:
            pause = self.next_reset(now) - now
            logger.debug("weight budget spent (%d/%d)", self._seen, self.limit)
        self.waits += 1
        self.slept_s += pause
        return None, pause, waited_until

    def acquire(self, weight: int) -> int:
        """Block the thread until a request of this weight fits; return the window it goes in."""
        waited_until = 0.0
        with self._cond:
            while True:
                window, pause, waited_until = self._admit(weight, waited_until)
                if window is not None:
                    return window
                if pause is None:
                    self._cond.wait(timeout=1.0)
                    continue
                self._cond.release()
                try:
                    self.sleep(pause)
                finally:
                    self._cond.acquire()

    # Whether admitting a request may wait on I/O (the shared budget's database): then it is
    # done on a worker thread, never on the event loop of the coroutine that asks.
    admits_off_loop = False

    def _admit_locked(
        self, weight: int, waited_until: float, answered: asyncio.Future[None], headroom: int
    ) -> tuple[int | None, float | None, float]:
        """_admit under the lock; ``answered`` waits for the next answer when nothing fits."""
        with self._cond:
            admitted = self._admit(weight, waited_until, headroom)
            if admitted[0] is None and admitted[1] is None:
                self._answer_waiters.append(answered)
            return admitted

    async def acquire_async(self, weight: int, headroom: int = 0) -> int:
        """acquire for a coroutine: it waits on the event loop, which goes on running."""
        loop = asyncio.get_running_loop()
        waited_until = 0.0
        while True:
            answered = loop.create_future()
            if self.admits_off_loop:
                admitted = await asyncio.to_thread(
                    self._admit_locked, weight, waited_until, answered, headroom
                )
            else:
                admitted = self._admit_locked(weight, waited_until, answered, headroom)
            window, pause, waited_until = admitted
            if window is not None:
                return window
            if pause is None:
                await asyncio.wait([answered], timeout=1.0)
            else:
                await self.async_sleep(pause)

    def _notify(self) -> None:
        """Wake every waiter, thread or coroutine (called with the lock held)."""
        self._cond.notify_all()
        for waiter in self._answer_waiters:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits there
                waiter.get_loop().call_soon_threadsafe(_resolve, waiter)
        self._answer_waiters.clear()

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
            self._notify()

    def took(self, seconds: float) -> None:
        """How long a request took from its admission to its answer (SharedWeightBudget uses
        it; one process's own pacing does not need it)."""

    def retry_after(self, seconds: float) -> None:
        """A 429: every caller waits `seconds`, when the server's window ends; learn its phase."""
        with self._cond:
            now = self.wall()
            self.phase_s = (now + seconds) % self.window_s
            self._blocked_until = max(self._blocked_until, now + seconds + self.slack_s)
            self._notify()

    def ban(self, message: str, seconds: float = math.inf) -> None:
        """A 418: no caller sends anything more while the ban runs."""
        with self._cond:
            self._banned, self._banned_until = message, self.wall() + seconds
            self._notify()


# The name of the one budget every process of the platform shares (the IP's; the Airflow pool's).
SHARED_BUDGET = "binance_rest"
# Reserve a request's weight in its window (and in the next or the previous one too near their
# edge), all or nothing, unless the processes' reservations or the server's reported count leave
# no room: migration 0014's function, one round trip; row locks queue the processes.
RESERVE_SHARED = (
    "select market.reserve_rest_weight(%(budget)s, %(window_ms)s, %(first)s, %(last)s, "
    "%(weight)s, %(seen)s, %(cap)s)"
)
# A 429's windows, full for every process: no reservation fits in them any more.
BLOCK_SHARED = load_sql("block_rest_weight_windows")
# A window is worth nothing once it is over; an hour keeps the table a few dozen rows long.
PURGE_SHARED = "delete from market.rest_weight_windows where updated_at < now() - interval '1 hour'"
# After a failed round trip, the process paces alone this long before trying the database again.
SHARED_RETRY_S = 60.0


@dataclass
class SharedWeightBudget(WeightBudget):
    """A WeightBudget whose windows every process of the platform shares through PostgreSQL.

    Before a request goes, its weight is reserved in the window's row of
    market.rest_weight_windows (migration 0014), by the same window reckoning as the local
    budget: the request waits for the next window unless the weight all processes reserved
    there, or the highest X-MBX-USED-WEIGHT-1M any of them saw (sent along with the next
    reservation, so correcting costs no round trip of its own), leaves room for it. So the
    streamer's repairs and any number of batch tasks, each with its own connection, together
    stay under the IP's limit, which the headers alone cannot promise: a header does not show
    what other processes have in flight. Everything of WeightBudget (the first request of a
    window alone, 429 and 418 handling, the learned phase) still holds per process.

    Without a reachable database (or the table) it is a WeightBudget: it logs once and paces
    alone, trying the database again a minute later. ``shared_waits`` counts requests the
    shared window held back.
    """

    database_url: str = ""
    budget_name: str = SHARED_BUDGET
    # Short: a connect attempt holds up every request of the process meanwhile.
    connect_timeout_s: int = 2
    admits_off_loop = True
    shared_waits: int = 0
    _conn: psycopg.Connection | None = field(default=None, repr=False)
    _purged_window: int | None = field(default=None, repr=False)
    _alone_until: float = field(default=0.0, repr=False)
    # Until requests have been timed, a twentieth of the window (3 s of Binance's minute): a
    # cautious start that the first few dozen answers replace.
    _latency_s: float | None = field(default=None, repr=False)

    def _admit(
        self, weight: int, waited_until: float, headroom: int = 0
    ) -> tuple[int | None, float | None, float]:
        window, pause, waited_until = super()._admit(weight, waited_until, headroom)
        if window is None or self._reserve_shared(window, weight, headroom):
            return window, pause, waited_until
        # The shared window is spent: give back the local admission and wait for the next.
        self._pending -= weight
        self._sent -= weight
        now = self.wall()
        pause = self.next_reset(now) - now
        self.shared_waits += 1
        self.waits += 1
        self.slept_s += pause
        logger.debug("shared weight budget spent in window %d", window)
        return None, pause, waited_until

    @property
    def edge_s(self) -> float:
        """Seconds before a window's end from which a request takes room in the next one too
        (in the ones after, if it is longer than a window): the slack and twice the slowest
        recent request. Safe whatever the latency; it costs throughput only when requests take
        a good part of a window."""
        latency = self.window_s / 20 if self._latency_s is None else self._latency_s
        return self.slack_s + 2 * latency

    def took(self, seconds: float) -> None:
        with self._cond:
            # The slowest recent request, forgotten slowly (a tenth per request).
            start = self.window_s / 20 if self._latency_s is None else self._latency_s
            self._latency_s = max(seconds, start * 0.9)

    def _reserve_shared(self, window: int, weight: int, headroom: int = 0) -> bool:
        """Reserve weight in the shared window (under the budget's lock); False when full."""
        conn = self._connection()
        if conn is None:
            return True
        try:
            if self._purged_window != window:
                conn.execute(PURGE_SHARED)
                self._purged_window = window
            # A request sent near a window's edge may be counted on either side of it (the
            # clocks' skew, and the time it takes to reach the server, which on a busy host is
            # more than the slack): it takes room in both windows.
            windows = self._shared_windows(self.edge_s)
            (fits,) = conn.execute(
                RESERVE_SHARED,
                {
                    **windows,
                    "weight": weight,
                    # The server's count is for the process's window: the same one unless it
                    # learned another phase.
                    "seen": self._seen if window == windows["first"] else 0,
                    "cap": self.limit - self.reserve - headroom,
                },
            ).fetchone()
        except psycopg.Error as err:
            self._alone(err)
            return True
        return bool(fits)

    def retry_after(self, seconds: float) -> None:
        """A 429 holds every process, not only this one: the shared windows it spans are
        marked full (another process's request inside the Retry-After would earn a 418)."""
        super().retry_after(seconds)
        with self._cond:
            conn = self._connection()
            if conn is None:
                return
            try:
                # Retry-After is whole seconds, rounded up: the server's window ends within its
                # last second, so the window that starts then is not blocked (it was, and every
                # 429 cost most of another window on top of its Retry-After).
                conn.execute(BLOCK_SHARED, self._shared_windows(seconds - 1.0))
            except psycopg.Error as err:
                self._alone(err)

    def _shared_windows(self, ahead_s: float) -> dict[str, Any]:
        """The shared windows from now (less the slack) to ahead_s on, by the clock: a phase one
        process learned (rightly or from a slow answer) must not make it count in other spans
        than the rest, as Binance's windows are the clock's."""
        now = self.wall()
        return {
            "budget": self.budget_name,
            "window_ms": round(self.window_s * 1000),
            "first": math.floor((now - self.slack_s) / self.window_s),
            "last": math.floor((now + max(ahead_s, 0.0)) / self.window_s),
        }

    def _connection(self) -> psycopg.Connection | None:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if not self.database_url or self.wall() < self._alone_until:
            return None
        try:
            self._conn = psycopg.connect(
                self.database_url,
                autocommit=True,
                connect_timeout=self.connect_timeout_s,
                application_name="binance-weight-budget",
            )
        except psycopg.Error as err:
            self._alone(err)
            return None
        return self._conn

    def _alone(self, err: BaseException) -> None:
        logger.warning(
            "shared REST weight budget unavailable (%s): pacing this process alone for %.0f s",
            str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__,
            SHARED_RETRY_S,
        )
        self._alone_until = self.wall() + SHARED_RETRY_S
        self.close()

    def close(self) -> None:
        """Close the database connection (a later request opens a new one)."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def shared_budget(database_url: str | None, **kwargs: Any) -> WeightBudget:
    """The budget shared through that database; the in-process one without a database URL."""
    if not database_url:
        return WeightBudget(**kwargs)
    return SharedWeightBudget(database_url=database_url, **kwargs)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass
class RestStats:
    """What a client did: requests, weight, 429s and server errors."""

    requests: int = 0
    weight: int = 0
    throttled_429: int = 0
    server_errors: int = 0


# Without a readable Retry-After: a 429 waits out a whole weight window; a 418 the shortest
# ban Binance gives (bans scale from 2 minutes to 3 days).
MISSING_RETRY_AFTER_S = {429: 60.0, 418: 120.0}


def retry_after_seconds(headers: httpx.Headers, status: int = 429) -> float:
    """A 429's or 418's Retry-After in seconds (at least 1; the status's default when missing)."""
    try:
        return max(float(headers.get("retry-after", "")), 1.0)
    except ValueError:
        return MISSING_RETRY_AFTER_S.get(status, 60.0)


@dataclass(frozen=True)
class RetryPolicy:
    """When a request is tried again, and after how long: one policy for every client.

    Transport errors, 5xx and unreadable bodies are retried after a jittered exponential
    backoff; a 429 at once, since the budget already holds every caller for its Retry-After; a
    418 and any other answer never. ``attempts`` failed attempts end the request; a 429 counts
    as one only if ``throttled_counts`` (the streamer bounds its repairs so).
    """

    attempts: int = MAX_SERVER_ERRORS + 1
    throttled_counts: bool = False
    backoff_s: float = 2.0
    backoff_max_s: float = 30.0

    def arguments(self) -> dict[str, Any]:
        """tenacity's arguments for one request (its own count of failed attempts)."""
        backoff = wait_exponential_jitter(
            multiplier=self.backoff_s, max=self.backoff_max_s, jitter=self.backoff_s
        )
        failures = 0

        def stop(state: RetryCallState) -> bool:
            nonlocal failures
            if self.throttled_counts or not isinstance(_failure(state), ThrottledError):
                failures += 1
            return failures >= self.attempts

        def wait(state: RetryCallState) -> float:
            return 0.0 if isinstance(_failure(state), ThrottledError) else backoff(state)

        return {
            "retry": retry_if_exception_type(RetryableError),
            "stop": stop,
            "wait": wait,
            "reraise": True,
        }


def _failure(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


class _Client:
    """What both faces share: the base URL, budget, stats and policy, and reading an answer."""

    def __init__(
        self,
        base_url: str | None,
        budget: WeightBudget | None,
        policy: RetryPolicy,
        database_url: str | None = None,
    ) -> None:
        self.base_url = (base_url or get_settings().binance_rest_url).rstrip("/")
        # A budget of its own (no budget given) is closed with the client.
        self._own_budget = budget is None
        self.budget = budget or shared_budget(database_url)
        self.policy = policy
        self.stats = RestStats()
        self._stats_lock = threading.Lock()

    def _close_budget(self) -> None:
        close = getattr(self.budget, "close", None)
        if self._own_budget and close is not None:
            close()

    def _sending(self) -> None:
        """A request is about to go out (a hook for metrics)."""

    def _used_weight(self, used: int) -> None:
        """The server's X-MBX-USED-WEIGHT-1M (a hook for metrics)."""

    def _lost(self, err: BaseException, path: str, weight: int, window: int) -> RetryableError:
        """A request that got no answer (``err``): counted (it may have been), maybe retried."""
        self.budget.observe(None, weight, window)
        if isinstance(err, httpx.TransportError):
            return RetryableError(f"{self.base_url}{path}: {err!r}")
        raise err

    def _answer(
        self, response: httpx.Response, path: str, params: Any, weight: int, window: int
    ) -> Any:
        """The JSON of a 200; for anything else, tell the budget and raise what it means."""
        used = response.headers.get("x-mbx-used-weight-1m")
        used_weight = int(used) if used and used.isdigit() else None
        self.budget.observe(used_weight, weight, window)
        if used_weight is not None:
            self._used_weight(used_weight)
        status = response.status_code
        with self._stats_lock:
            self.stats.requests += 1
            self.stats.weight += weight
            self.stats.throttled_429 += status == 429
            self.stats.server_errors += status >= 500
        if status == 200:
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError as err:
                raise RetryableError(f"{path}: unreadable answer: {err}") from err
        retry = retry_after_seconds(response.headers, status)
        if status == 429:
            logger.warning("429 from Binance: waiting %s s as Retry-After asks", retry)
            self.budget.retry_after(retry)
            raise ThrottledError(f"{path}: HTTP 429 from Binance")
        if status == 418:
            message = (
                f"Binance banned this IP (HTTP 418) for {retry:.0f} s: stopped; "
                "rerun after the ban, the job resumes where it stopped"
            )
            logger.error("%s", message)
            self.budget.ban(message, retry)
            raise IpBannedError(message)
        if status >= 500:
            raise RetryableError(f"{path}: HTTP {status} from Binance")
        raise BinanceError(f"{path} {params or ''}: HTTP {status} {_msg(response)}")

    def _adopt_limits(self, info: dict[str, Any]) -> dict[str, Any]:
        """Take exchangeInfo's live REQUEST_WEIGHT limit and window into the budget."""
        for limit in info.get("rateLimits", []):
            if limit.get("rateLimitType") == "REQUEST_WEIGHT":
                seconds = INTERVAL_SECONDS[limit["interval"]] * int(limit.get("intervalNum", 1))
                self.budget.limit, self.budget.window_s = int(limit["limit"]), float(seconds)
        return info


# exchangeInfo answers of this process, by (server, symbols asked): (monotonic time, answer).
_EXCHANGE_INFO: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_EXCHANGE_INFO_LOCK = threading.Lock()
# How old an exchangeInfo the batch jobs take (listings and limits change over hours, not
# minutes; a symbol listed since is fetched by the next job).
JOB_EXCHANGE_INFO_AGE_S = 600.0


class BinanceRest(_Client):
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
        database_url: str | None = None,
    ) -> None:
        super().__init__(
            base_url, budget, RetryPolicy(attempts=max_server_errors + 1), database_url
        )
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, verify=tls_context()
        )
        self._limits_loaded = False
        self._limits_lock = threading.Lock()

    def close(self) -> None:
        """Close the connection pool (and the shared budget's database connection)."""
        self._http.close()
        self._close_budget()

    def __enter__(self) -> BinanceRest:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON endpoint inside the weight budget; 429 waits, 418 stops with a reason."""
        retrying = Retrying(sleep=lambda s: self.budget.sleep(s), **self.policy.arguments())
        return retrying(self._attempt, path, params)

    def _attempt(self, path: str, params: dict[str, Any] | None) -> Any:
        weight = WEIGHTS.get(path, 1)
        window = self.budget.acquire(weight)
        sent = time.monotonic()
        self._sending()
        try:
            response = self._http.get(path, params=params)
        except BaseException as err:
            raise self._lost(err, path, weight, window) from err
        self.budget.took(time.monotonic() - sent)
        return self._answer(response, path, params, weight, window)

    def exchange_info(
        self, symbols: list[str] | None = None, *, max_age_s: float = 0.0
    ) -> dict[str, Any]:
        """exchangeInfo; also adopts its live REQUEST_WEIGHT limit and window.

        With ``max_age_s``, an answer this process got from the same server within that many
        seconds serves again (its serverTime carried forward by the monotonic clock): a job of
        many chunks asks once, not once per chunk (weight 20 each, half of a year's backfill).
        """
        params = {"symbols": "[" + ",".join(f'"{s}"' for s in symbols) + "]"} if symbols else None
        key = (self.base_url, params["symbols"] if params else "")
        with _EXCHANGE_INFO_LOCK:
            cached = _EXCHANGE_INFO.get(key)
        age = time.monotonic() - cached[0] if cached else math.inf
        if age <= max_age_s:
            info = {**cached[1], "serverTime": int(cached[1]["serverTime"]) + int(age * 1000)}
        else:
            info = self.get("/api/v3/exchangeInfo", params)
            with _EXCHANGE_INFO_LOCK:
                _EXCHANGE_INFO[key] = (time.monotonic(), info)
        self._adopt_limits(info)
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


# Requests of one async client on the wire at once (httpx's pool holds as many connections).
ASYNC_MAX_IN_FLIGHT = 32
# Requests that close minutes on their own (a missed minute's klines, the 24-hour ticker that
# proves quiet symbols) or keep the client going (time, exchangeInfo): in the async client they
# neither queue for a slot behind bulk requests (trades by id or by time: gap repairs, probes)
# nor compete for the last URGENT_SHARE of each window's weight, which bulk requests leave to
# them. At a restart at ALL, ~1,800 gap repairs (7,200 weight, more than a window) otherwise
# held back the klines of the missed minutes queued behind them for two windows.
URGENT_PATHS = frozenset(
    {"/api/v3/klines", "/api/v3/ticker/24hr", "/api/v3/time", "/api/v3/exchangeInfo"}
)
URGENT_SHARE = 0.10
URGENT_IN_FLIGHT = 8


class AsyncBinanceRest(_Client):
    """The same client for coroutines: it waits for the budget without blocking the loop."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        budget: WeightBudget | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        database_url: str | None = None,
    ) -> None:
        super().__init__(base_url, budget, policy or RetryPolicy(), database_url)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            verify=tls_context(),
            limits=httpx.Limits(max_connections=ASYNC_MAX_IN_FLIGHT + URGENT_IN_FLIGHT),
        )
        # Requests queue here, before their weight is taken, never in httpx's pool: a window
        # that admits a thousand small requests at once (a restart at ALL) would otherwise
        # leave most of them waiting for a connection past the timeout, their weight spent.
        self._slots = asyncio.Semaphore(ASYNC_MAX_IN_FLIGHT)
        self._urgent_slots = asyncio.Semaphore(URGENT_IN_FLIGHT)

    async def __aenter__(self) -> AsyncBinanceRest:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()
        self._close_budget()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON endpoint inside the weight budget; 429 waits, 418 stops with a reason."""
        retrying = AsyncRetrying(
            sleep=lambda s: self.budget.async_sleep(s), **self.policy.arguments()
        )
        return await retrying(self._attempt, path, params)

    async def _attempt(self, path: str, params: dict[str, Any] | None) -> Any:
        weight = WEIGHTS.get(path, 1)
        urgent = path in URGENT_PATHS
        headroom = 0 if urgent else int(self.budget.limit * URGENT_SHARE)
        async with self._urgent_slots if urgent else self._slots:
            window = await self.budget.acquire_async(weight, headroom)
            sent = time.monotonic()
            self._sending()
            try:
                response = await self._http.get(path, params=params)
            except BaseException as err:
                raise self._lost(err, path, weight, window) from err
        self.budget.took(time.monotonic() - sent)
        return self._answer(response, path, params, weight, window)

    async def exchange_info(self) -> dict[str, Any]:
        """exchangeInfo; also adopts its live REQUEST_WEIGHT limit and window."""
        return self._adopt_limits(await self.get("/api/v3/exchangeInfo"))

    async def server_time_ms(self) -> int:
        """The exchange's clock in epoch milliseconds."""
        return int((await self.get("/api/v3/time"))["serverTime"])


def _msg(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].replace("\n", " ")
    if isinstance(body, dict) and "msg" in body:
        return f"(code {body.get('code')}): {body['msg']}"
    return str(body)[:200]
