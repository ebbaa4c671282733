"""No request holds the read API's event loop: a 1M candle in a zone off the day
(timeZone=0:01, 44,640 minutes a candle, weight 2) is summed in the database, not in Python
(issue #42, item 5)."""

from __future__ import annotations

import asyncio
import time

import httpx

from api.config import ApiConfig, load_config
from tests.support.api import running_api
from tests.support.klines import flat_minutes

# Two 0:01 months of minutes from 2025-01-01 00:00 UTC: the most one 1M request reads (89,280).
FILL = flat_minutes(89280)
# What the loop may be held for at once (docs/security.md).
MAX_HOLD_S = 0.05


async def longest_hold(stop: asyncio.Event) -> float:
    """The most CPU time this thread spent between two 5 ms ticks of the loop: how long other
    callbacks held it (CPU, not wall time, so a busy machine's scheduling does not count)."""
    longest = 0.0
    while not stop.is_set():
        before = time.thread_time()
        await asyncio.sleep(0.005)
        longest = max(longest, time.thread_time() - before)
    return longest


async def test_a_month_in_a_zone_off_the_day_does_not_hold_the_loop(database_url, conn) -> None:
    """interval=1M&timeZone=0:01 over 89,280 minutes: the loop is never held past 50 ms, and
    the candles are exact (January at 0:01 opens 2024-12-31 23:59 UTC and holds 44,639 of the
    minutes, February 40,320)."""
    conn.execute(FILL)
    conn.execute("analyze market.klines_1m")
    config = ApiConfig(database_url=load_config().database_url, port=0)
    params = {
        "symbol": "BTCUSDT",
        "interval": "1M",
        "timeZone": "0:01",
        "startTime": "0",
        "limit": "2",
    }
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        await client.get("/api/v3/ping")  # the first request's one-time costs are not the test's
        stop = asyncio.Event()
        watch = asyncio.ensure_future(longest_hold(stop))
        answer = await client.get("/api/v3/klines", params=params, timeout=60)
        stop.set()
        held = await watch
    assert answer.status_code == 200, answer.text
    january, february = answer.json()
    assert january[0] == 1735689540000  # 2024-12-31 23:59 UTC
    assert (january[5], january[8]) == (f"{2 * 44639}.00000000", 3 * 44639)
    assert (february[5], february[8]) == (f"{2 * 40320}.00000000", 3 * 40320)
    assert held < MAX_HOLD_S, f"the loop was held {held * 1000:.0f} ms"
