"""The streamer's face of the Binance client: repair endpoints, metrics, RestUnavailable."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from include.platform.binance_rest.async_client import AsyncBinanceRest
from include.platform.binance_rest.errors import BinanceError, IpBannedError
from include.platform.binance_rest.retry import RetryPolicy
from include.platform.binance_rest.shared import shared_budget
from include.platform.markets import SPOT, Market
from include.platform.times import MINUTE_MS
from streamer.metrics import Metrics
from streamer.parser import FrameError, Trade, parse_rest_agg_trade, parse_rest_trade

logger = logging.getLogger(__name__)

PAGE = 1000
# The streamer paces at 90% of the IP's weight: more reserve than a batch job leaves, for the
# batch jobs sharing its IP.
RESERVE_SHARE = 0.10


class RestUnavailable(RuntimeError):
    """REST cannot answer now (banned, down, or still failing after retries)."""


class RestClient(AsyncBinanceRest):
    """The client every repair shares: one budget, one ban state, counted in the metrics; its
    market's paths, weights and IP pool (spot's /api/v3, a futures market's own)."""

    def __init__(
        self,
        base_url: str,
        metrics: Metrics,
        *,
        weight_limit: int | None = None,
        attempts: int = 4,
        backoff_initial: float = 0.2,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        database_url: str | None = None,
        market: Market = SPOT,
    ) -> None:
        # With a database URL the repairs' weight is reserved in the budget the batch jobs
        # share (one short statement per request, on the loop: a repair is a few requests).
        budget = shared_budget(
            database_url,
            budget_name=market.budget,
            limit=market.weight_limit if weight_limit is None else weight_limit,
            reserve_share=RESERVE_SHARE,
        )
        super().__init__(
            base_url,
            timeout=timeout,
            budget=budget,
            transport=transport,
            policy=RetryPolicy(attempts, throttled_counts=True, backoff_s=backoff_initial),
            market=market,
        )
        self._own_budget = True  # made here: closed with the client
        self.metrics = metrics

    def banned_for(self) -> float:
        """Seconds the IP ban (418) still runs; 0 when not banned."""
        return self.budget.banned_for()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON endpoint with Binance's etiquette; RestUnavailable when it cannot."""
        try:
            return await super().get(path, params)
        except IpBannedError as exc:
            raise RestUnavailable(f"REST banned (418) for {self.banned_for():.0f} s more") from exc
        except BinanceError as exc:
            raise RestUnavailable(str(exc)) from exc

    def _sending(self) -> None:
        self.metrics.rest_requests += 1

    def _used_weight(self, used: int) -> None:
        self.metrics.rest_weight_used = used

    async def _trades(self, symbol: str, params: dict[str, Any], raw: bool = False) -> list[Trade]:
        """historicalTrades (raw) or aggTrades as Trades; RestUnavailable for a row that is not."""
        path = self.market.path("historicalTrades" if raw else "aggTrades")
        parse = parse_rest_trade if raw else parse_rest_agg_trade
        rows = await self.get(path, {"symbol": symbol, **params})
        try:
            return [parse(symbol, r) for r in rows]
        except (FrameError, TypeError) as exc:
            raise RestUnavailable(f"unexpected REST {path} row for {symbol}: {exc}") from exc

    async def by_id(self, symbol: str, stream: str, from_id: int, limit: int = PAGE) -> list[Trade]:
        """Trades (or aggTrades) from an id on: historicalTrades / aggTrades ``fromId``."""
        params = {"fromId": from_id, "limit": max(1, min(PAGE, limit))}
        return await self._trades(symbol, params, raw=stream == "trade")

    async def first_in(self, symbol: str, start_ms: int, end_ms: int) -> Trade | None:
        """The first aggTrade in [start_ms, end_ms]: where a minute's trade ids begin."""
        rows = await self._trades(symbol, {"startTime": start_ms, "endTime": end_ms, "limit": 1})
        return rows[0] if rows else None

    async def latest(self, symbol: str, stream: str) -> Trade | None:
        """The most recent trade as one aggTrade (weight 4); in trade mode ids are trade ids."""
        rows = await self._trades(symbol, {"limit": 1})
        agg = rows[-1] if rows else None
        if agg is None or stream == "aggTrade":
            return agg
        # Seen as raw trades, the aggregate's last trade is the most recent one.
        last = agg.last_id
        return Trade(symbol, last, last, last, agg.price, 0, agg.time_ms, agg.buyer_maker)

    async def klines_1m(self, symbol: str, start_ms: int, end_ms: int) -> list[list]:
        """Binance's 1m klines opening in [start_ms, end_ms), a page of the market's cheapest
        size per request (spot's 1,000 at weight 2, futures' 499 at 2)."""
        out: list[list] = []
        cursor = start_ms
        size = self.market.klines_page
        while cursor < end_ms:
            # Both bounds: COIN-M pages backwards from endTime (docs/BINANCE.md "Futures").
            last = min(end_ms, cursor + size * MINUTE_MS) - 1
            page = await self.get(
                self.market.path("klines"),
                {"symbol": symbol, "interval": "1m", "startTime": cursor, "endTime": last,
                 "limit": size},
            )  # fmt: skip
            out += page
            cursor = last + 1
        return out

    async def last_trade_ids(self) -> dict[str, tuple[int, int, int]]:
        """Every symbol's (lastId, openTime, closeTime) of Binance's 24-hour ticker, one request
        for all (weight 80 on spot, 40 on futures; from Binance's memory); lastId is -1 when
        nothing traded all day. Futures' ticker has one shape (no ``type``)."""
        path = self.market.path("ticker/24hr")
        rows = await self.get(path, {} if self.market.is_futures else {"type": "MINI"})
        try:
            return {
                str(r["symbol"]): (int(r["lastId"]), int(r["openTime"]), int(r["closeTime"]))
                for r in rows
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise RestUnavailable(f"unexpected REST {path} row: {exc!r}") from exc

    async def get_aggs_between(self, symbol: str, start_ms: int, end_ms: int) -> list[Trade]:
        """aggTrades in [start_ms, end_ms] (at most 1 h, weight 4): the cheap quiet-symbol probe."""
        return await self._trades(symbol, {"startTime": start_ms, "endTime": end_ms, "limit": PAGE})
