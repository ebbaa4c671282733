"""AsyncBinanceRest: the client for coroutines, with slots for urgent and bulk requests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from tenacity import AsyncRetrying

from include.platform.binance_rest.budget import WeightBudget
from include.platform.binance_rest.client import _Client, tls_context
from include.platform.binance_rest.retry import RetryPolicy
from include.platform.markets import SPOT, Market

# Requests of one async client on the wire at once (httpx's pool holds as many connections).
ASYNC_MAX_IN_FLIGHT = 32
# Requests that close minutes on their own (a missed minute's klines, the 24-hour ticker that
# proves quiet symbols) or keep the client going (time, exchangeInfo): in the async client they
# neither queue for a slot behind bulk requests (trades by id or by time: gap repairs, probes)
# nor compete for the last URGENT_SHARE of each window's weight, which bulk requests leave to
# them. At a restart at ALL, ~1,800 gap repairs (7,200 weight, more than a window) otherwise
# held back the klines of the missed minutes queued behind them for two windows.
URGENT_ENDPOINTS = frozenset({"klines", "ticker/24hr", "time", "exchangeInfo"})
URGENT_PATHS = frozenset(SPOT.path(endpoint) for endpoint in URGENT_ENDPOINTS)
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
        market: Market = SPOT,
    ) -> None:
        super().__init__(base_url, budget, policy or RetryPolicy(), database_url, market)
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
        weight = self.market.weight(path, params)
        urgent = path.removeprefix(self.market.rest_prefix + "/") in URGENT_ENDPOINTS
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
        return self._adopt_limits(await self.get(self.market.path("exchangeInfo")))

    async def server_time_ms(self) -> int:
        """The exchange's clock in epoch milliseconds."""
        return int((await self.get(self.market.path("time")))["serverTime"])
