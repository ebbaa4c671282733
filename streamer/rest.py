"""REST client for repairs and symbols: weight-aware, honours 429 Retry-After, stops on 418."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import aiohttp
import orjson

from streamer.metrics import Metrics
from streamer.parser import FrameError, Trade, parse_rest_agg_trade, parse_rest_trade

logger = logging.getLogger(__name__)

WEIGHTS = {
    "/api/v3/exchangeInfo": 20,
    "/api/v3/aggTrades": 4,
    "/api/v3/historicalTrades": 25,
}
PAGE = 1000


class RestUnavailable(RuntimeError):
    """REST cannot answer now (banned, down, or still failing after retries)."""


class RestClient:
    """A small Binance REST client shared by every repair; one budget, one ban state."""

    def __init__(
        self,
        base_url: str,
        metrics: Metrics,
        *,
        weight_limit: int = 6000,
        attempts: int = 4,
        backoff_initial: float = 0.2,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.metrics = metrics
        self.weight_limit = weight_limit
        self.attempts = attempts
        self.backoff_initial = backoff_initial
        self.timeout = timeout
        self.used_weight = 0
        self.retry_until = 0.0
        self.banned_until = 0.0
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RestClient:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout), raise_for_status=False
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def banned_for(self) -> float:
        """Seconds the IP ban (418) still runs; 0 when not banned."""
        return max(0.0, self.banned_until - time.monotonic())

    async def get(self, path: str, params: dict[str, Any]) -> Any:
        """GET a JSON endpoint with Binance's etiquette; RestUnavailable when it cannot."""
        assert self._session is not None, "use `async with RestClient(...)`"
        weight = WEIGHTS.get(path, 1)
        delay = self.backoff_initial
        last = "no attempt"
        for _attempt in range(self.attempts):
            if self.banned_for() > 0:
                raise RestUnavailable(f"REST banned (418) for {self.banned_for():.0f} s more")
            wait = self.retry_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            # Close to the budget: let the minute window turn over instead of earning a 429.
            if self.used_weight + weight > self.weight_limit * 0.9:
                await asyncio.sleep(60 - time.time() % 60 + 0.5)
                self.used_weight = 0
            self.metrics.rest_requests += 1
            try:
                async with self._session.get(self.base_url + path, params=params) as resp:
                    used = resp.headers.get("x-mbx-used-weight-1m")
                    if used is not None and used.isdigit():
                        self.used_weight = int(used)
                        self.metrics.rest_weight_used = self.used_weight
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
                    if resp.status == 418:
                        self.banned_until = time.monotonic() + (retry_after or 120)
                        logger.error("REST banned (418) for %s s", retry_after)
                        raise RestUnavailable(f"REST banned (418) for {retry_after} s")
                    if resp.status == 429:
                        self.retry_until = time.monotonic() + (retry_after or 1)
                        logger.warning("REST 429, waiting %s s", retry_after)
                        last = "429 Too Many Requests"
                        continue
                    body = await resp.read()
                    if resp.status >= 500:
                        last = f"HTTP {resp.status}"
                    elif resp.status != 200:
                        raise RestUnavailable(
                            f"{path} HTTP {resp.status}: {body[:200].decode(errors='replace')}"
                        )
                    else:
                        return orjson.loads(body)
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(delay * (1 + random.random()))
            delay *= 2
        raise RestUnavailable(f"{path} failed after {self.attempts} attempts: {last}")

    async def by_id(self, symbol: str, stream: str, from_id: int, limit: int = PAGE) -> list[Trade]:
        """Trades (or aggTrades) from an id on: historicalTrades / aggTrades ``fromId``."""
        params = {"symbol": symbol, "fromId": from_id, "limit": max(1, min(PAGE, limit))}
        try:
            if stream == "trade":
                rows = await self.get("/api/v3/historicalTrades", params)
                return [parse_rest_trade(symbol, r) for r in rows]
            rows = await self.get("/api/v3/aggTrades", params)
            return [parse_rest_agg_trade(symbol, r) for r in rows]
        except (FrameError, TypeError) as exc:
            raise RestUnavailable(f"unexpected REST trade row for {symbol}: {exc}") from exc

    async def first_in(self, symbol: str, start_ms: int, end_ms: int) -> Trade | None:
        """The first aggTrade in [start_ms, end_ms]: where a minute's trade ids begin."""
        params = {"symbol": symbol, "startTime": start_ms, "endTime": end_ms, "limit": 1}
        rows = await self.get("/api/v3/aggTrades", params)
        try:
            return parse_rest_agg_trade(symbol, rows[0]) if rows else None
        except (FrameError, TypeError, IndexError) as exc:
            raise RestUnavailable(f"unexpected REST aggTrade row for {symbol}: {exc}") from exc

    async def latest(self, symbol: str, stream: str) -> Trade | None:
        """The most recent trade as one aggTrade (weight 4); in trade mode ids are trade ids."""
        rows = await self.get("/api/v3/aggTrades", {"symbol": symbol, "limit": 1})
        try:
            agg = parse_rest_agg_trade(symbol, rows[-1]) if rows else None
        except (FrameError, TypeError) as exc:
            raise RestUnavailable(f"unexpected REST aggTrade row for {symbol}: {exc}") from exc
        if agg is None or stream == "aggTrade":
            return agg
        # Seen as raw trades, the aggregate's last trade is the most recent one.
        return Trade(
            symbol,
            agg.last_id,
            agg.last_id,
            agg.last_id,
            agg.price,
            0,
            agg.time_ms,
            agg.buyer_maker,
        )

    async def get_aggs_between(self, symbol: str, start_ms: int, end_ms: int) -> list[Trade]:
        """aggTrades in [start_ms, end_ms] (at most 1 h, weight 4): the cheap quiet-symbol probe."""
        params = {"symbol": symbol, "startTime": start_ms, "endTime": end_ms, "limit": PAGE}
        rows = await self.get("/api/v3/aggTrades", params)
        try:
            return [parse_rest_agg_trade(symbol, r) for r in rows]
        except (FrameError, TypeError) as exc:
            raise RestUnavailable(f"unexpected REST aggTrade row for {symbol}: {exc}") from exc

    async def exchange_info(self) -> dict:
        """exchangeInfo; also adopts its REQUEST_WEIGHT limit."""
        info = await self.get("/api/v3/exchangeInfo", {})
        for limit in info.get("rateLimits", []):
            if limit.get("rateLimitType") == "REQUEST_WEIGHT" and limit.get("interval") == "MINUTE":
                self.weight_limit = int(limit["limit"])
        return info


def _retry_after(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return None
