"""The core both clients share (budget, stats, reading an answer) and BinanceRest, for threads."""

from __future__ import annotations

import functools
import logging
import math
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from tenacity import Retrying

from include.platform.binance_rest.budget import WeightBudget
from include.platform.binance_rest.errors import (
    BinanceError,
    IpBannedError,
    RetryableError,
    ThrottledError,
)
from include.platform.binance_rest.retry import MAX_SERVER_ERRORS, RetryPolicy, retry_after_seconds
from include.platform.binance_rest.shared import shared_budget
from include.platform.binance_rest.weights import INTERVAL_SECONDS
from include.platform.markets import (
    FUNDING_BUDGET,
    FUNDING_LIMIT,
    FUNDING_PAGE,
    FUNDING_WINDOW_S,
    SPOT,
    Market,
    pair_of,
)
from include.platform.settings import get_settings

logger = logging.getLogger(__name__)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every HTTP client of the process: httpx builds a new one
    per client by reading the CA bundle, about 20 ms, which each short-lived client (a task, a
    CLI command, a heal run) paid again."""
    return httpx.create_ssl_context()


@dataclass
class RestStats:
    """What a client did: requests, weight, 429s and server errors."""

    requests: int = 0
    weight: int = 0
    throttled_429: int = 0
    server_errors: int = 0


# REQUEST_WEIGHT (limit, window seconds) this process last read in each server's exchangeInfo
# (by base URL and market: one fake exchange serves every market on one port): a new client of
# that server starts with them.
_LIMITS: dict[str, tuple[int, float]] = {}


class _Client:
    """What both faces share: the base URL, budget, stats and policy, and reading an answer."""

    def __init__(
        self,
        base_url: str | None,
        budget: WeightBudget | None,
        policy: RetryPolicy,
        database_url: str | None = None,
        market: Market = SPOT,
    ) -> None:
        self.market = market
        self.base_url = (base_url or getattr(get_settings(), market.rest_url_setting)).rstrip("/")
        # The server and market whose limits and exchangeInfo this process remembers.
        self._server = self.base_url + market.rest_prefix
        # A budget of its own (no budget given) is closed with the client.
        self._own_budget = budget is None
        self.budget = budget or shared_budget(database_url, budget_name=market.budget)
        # Futures' fundingRate counts in an IP pool of its own (docs/BINANCE.md "Futures").
        self.funding_budget = (
            shared_budget(
                database_url,
                budget_name=FUNDING_BUDGET,
                limit=FUNDING_LIMIT,
                window_s=FUNDING_WINDOW_S,
            )
            if market.is_futures
            else None
        )
        if self._own_budget and (learned := _LIMITS.get(self._server)) is not None:
            # Before its own exchangeInfo answers: the limits this process last read from the
            # server (a first request paced on Binance's defaults against a server with other
            # windows earned a 429, and its block lasted a whole default minute).
            self.budget.limit, self.budget.window_s = learned
        self.policy = policy
        self.stats = RestStats()
        self._stats_lock = threading.Lock()

    def _close_budget(self) -> None:
        close = getattr(self.budget, "close", None)
        if self._own_budget and close is not None:
            close()
        if (close := getattr(self.funding_budget, "close", None)) is not None:
            close()

    def _budget_for(self, path: str) -> WeightBudget:
        """The pool a request of that path draws from."""
        if self.funding_budget is not None and path == self.market.path("fundingRate"):
            return self.funding_budget
        return self.budget

    def _sending(self) -> None:
        """A request is about to go out (a hook for metrics)."""

    def _used_weight(self, used: int) -> None:
        """The server's X-MBX-USED-WEIGHT-1M (a hook for metrics)."""

    def _lost(self, err: BaseException, path: str, weight: int, window: int) -> RetryableError:
        """A request that got no answer (``err``): counted (it may have been), maybe retried."""
        self._budget_for(path).observe(None, weight, window)
        if isinstance(err, httpx.TransportError):
            return RetryableError(f"{self.base_url}{path}: {err!r}")
        raise err

    def _answer(
        self, response: httpx.Response, path: str, params: Any, weight: int, window: int
    ) -> Any:
        """The JSON of a 200; for anything else, tell the budget and raise what it means."""
        used = response.headers.get("x-mbx-used-weight-1m")
        used_weight = int(used) if used and used.isdigit() else None
        budget = self._budget_for(path)
        if budget is not self.budget:
            # The header counts the weight pool, not the pool this request drew from.
            used_weight = None
        budget.observe(used_weight, weight, window)
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
            budget.retry_after(retry)
            raise ThrottledError(f"{path}: HTTP 429 from Binance")
        if status == 418:
            message = (
                f"Binance banned this IP (HTTP 418) for {retry:.0f} s: stopped; "
                "rerun after the ban, the job resumes where it stopped"
            )
            logger.error("%s", message)
            budget.ban(message, retry)
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
                _LIMITS[self._server] = (self.budget.limit, self.budget.window_s)
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
        market: Market = SPOT,
    ) -> None:
        super().__init__(
            base_url, budget, RetryPolicy(attempts=max_server_errors + 1), database_url, market
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
        budget = self._budget_for(path)
        retrying = Retrying(sleep=lambda s: budget.sleep(s), **self.policy.arguments())
        return retrying(self._attempt, path, params)

    def _attempt(self, path: str, params: dict[str, Any] | None) -> Any:
        weight = self.market.weight(path, params)
        budget = self._budget_for(path)
        window = budget.acquire(weight)
        sent = time.monotonic()
        self._sending()
        try:
            response = self._http.get(path, params=params)
        except BaseException as err:
            raise self._lost(err, path, weight, window) from err
        budget.took(time.monotonic() - sent)
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
        key = (self._server, params["symbols"] if params else "")
        with _EXCHANGE_INFO_LOCK:
            cached = _EXCHANGE_INFO.get(key)
        age = time.monotonic() - cached[0] if cached else math.inf
        if age <= max_age_s:
            info = {**cached[1], "serverTime": int(cached[1]["serverTime"]) + int(age * 1000)}
        else:
            info = self.get(self.market.path("exchangeInfo"), params)
            with _EXCHANGE_INFO_LOCK:
                _EXCHANGE_INFO[key] = (time.monotonic(), info)
        self._adopt_limits(info)
        self._limits_loaded = True
        return info

    def server_time_ms(self) -> int:
        """The exchange's clock in epoch milliseconds."""
        return int(self.get(self.market.path("time"))["serverTime"])

    def klines_1m(
        self, symbol: str, start_ms: int, end_ms: int, kind: str = "klines"
    ) -> list[list[Any]]:
        """Up to the market's page (1,000 on spot, 499 on futures) of 1m klines with
        start_ms <= open_time <= end_ms, oldest first.

        ``kind`` is the endpoint: klines, or futures' markPriceKlines, indexPriceKlines (which
        names its contract ``pair``) and premiumIndexKlines. Both bounds always go: COIN-M
        pages backwards from endTime, so a page no longer than the limit is the same rows on
        every market.
        """
        with self._limits_lock:
            if not self._limits_loaded:
                self.exchange_info()
        return self.get(
            self.market.path(kind),
            {
                **({"pair": pair_of(symbol)} if kind == "indexPriceKlines" else {"symbol": symbol}),
                "interval": "1m",
                "startTime": start_ms,
                "endTime": end_ms,
                "limit": self.market.klines_page,
            },
        )

    def funding_rates(self, symbol: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Up to 1,000 of a futures contract's fundings with start_ms <= fundingTime <= end_ms,
        oldest first, paced in fundingRate's own pool (500 requests per 5 minutes)."""
        return self.get(
            self.market.path("fundingRate"),
            {"symbol": symbol, "startTime": start_ms, "endTime": end_ms, "limit": FUNDING_PAGE},
        )


def _msg(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].replace("\n", " ")
    if isinstance(body, dict) and "msg" in body:
        return f"(code {body.get('code')}): {body['msg']}"
    return str(body)[:200]
