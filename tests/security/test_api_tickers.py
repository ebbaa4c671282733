"""The all-symbol tickers cannot be used to load the database: answered once per second however
many ask, on connections of their own (issue #42, item 6)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from api.config import ApiConfig, load_config
from tests.support.api import running_api, write_live
from tests.support.ws import values


async def test_concurrent_all_symbol_tickers_are_computed_once(database_url, conn) -> None:
    """Twenty ticker/24hr without a symbol at once (weight 80 each, Binance's): one query on
    the tickers' own pool, none on the push's, and the same answer for all."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        write_live(conn, symbol, now, values("101"), False)
    config = ApiConfig(database_url=load_config().database_url, port=0, ticker_cache_ttl=60)
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        state = api.api
        assert state.tickers.pool is not state.hub.pool
        await state.symbols.refresh()
        before = state.tickers.pool.get_stats().get("requests_num", 0)
        answers = await asyncio.gather(*(client.get("/api/v3/ticker/24hr") for _ in range(20)))
        asked = state.tickers.pool.get_stats().get("requests_num", 0) - before
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert [t["symbol"] for t in answers[0].json()] == ["BTCUSDT", "ETHUSDT"]
    assert asked == 1
