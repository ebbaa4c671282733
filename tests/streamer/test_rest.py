"""The streamer's REST client and the batch client are one client: same weights, same 429."""

from __future__ import annotations

import httpx
import pytest

from include.platform.binance_rest.budget import WeightBudget
from include.platform.binance_rest.client import BinanceRest
from include.platform.binance_rest.weights import WEIGHTS
from streamer.metrics import Metrics
from streamer.rest import RestClient, RestUnavailable

PATH = "/api/v3/aggTrades"


def throttled_once(request: httpx.Request, seen: list[str]) -> httpx.Response:
    """A 429 with Retry-After 3 for the first request, then an empty page."""
    seen.append(request.url.path)
    if len(seen) == 1:
        return httpx.Response(429, headers={"Retry-After": "3", "x-mbx-used-weight-1m": "6000"})
    return httpx.Response(200, json=[], headers={"x-mbx-used-weight-1m": "8"})


def fake_clock(budget: WeightBudget, sleeps: list[float]) -> None:
    """A budget on a wall clock that only its sleeps advance."""
    clock = [1_000.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    async def async_sleep(seconds: float) -> None:
        sleep(seconds)

    budget.wall, budget.sleep, budget.async_sleep = (lambda: clock[0]), sleep, async_sleep


async def test_one_429_with_retry_after_3_makes_both_clients_wait_3_s() -> None:
    """One 429 with Retry-After 3 holds the batch and the streamer client alike for 3 s (plus the
    window slack), then the request goes again; both count aggTrades' weight from one table."""
    batch_seen: list[str] = []
    batch_sleeps: list[float] = []
    batch = BinanceRest(
        "http://binance.test",
        transport=httpx.MockTransport(lambda r: throttled_once(r, batch_seen)),
    )
    fake_clock(batch.budget, batch_sleeps)
    assert batch.get(PATH, {"symbol": "BTCUSDT"}) == []
    batch.close()

    streamer_seen: list[str] = []
    streamer_sleeps: list[float] = []
    metrics = Metrics()
    async with RestClient(
        "http://binance.test",
        metrics,
        transport=httpx.MockTransport(lambda r: throttled_once(r, streamer_seen)),
    ) as streamer:
        fake_clock(streamer.budget, streamer_sleeps)
        assert await streamer.get_aggs_between("BTCUSDT", 0, 60_000) == []

    slack = batch.budget.slack_s
    assert [s for s in batch_sleeps if s] == [pytest.approx(3 + slack)]
    assert [s for s in streamer_sleeps if s] == [pytest.approx(3 + slack)]
    assert batch_seen == streamer_seen == [PATH, PATH]
    assert batch.stats.weight == streamer.stats.weight == 2 * WEIGHTS[PATH] == 8
    assert batch.stats.throttled_429 == streamer.stats.throttled_429 == 1
    assert (metrics.rest_requests, metrics.rest_weight_used) == (2, 8)


async def test_the_streamer_paces_at_90_percent_of_the_ip_limit() -> None:
    """The streamer's budget leaves 10% of the IP's weight to the batch jobs; they leave 2%."""
    async with RestClient("http://binance.test", Metrics(), weight_limit=6000) as streamer:
        assert streamer.budget.limit - streamer.budget.reserve == 5400
    with BinanceRest("http://binance.test") as batch:
        assert batch.budget.reserve == 120


async def test_rest_unavailable_after_retries_and_while_banned() -> None:
    """Four 5xx make RestUnavailable after four requests; a 418 makes it at once, and nothing is
    sent while the ban's Retry-After runs."""
    answers = [503, 503, 503, 503, 418]
    sent: list[int] = []

    def answer(_request: httpx.Request) -> httpx.Response:
        sent.append(answers[len(sent)])
        return httpx.Response(sent[-1], headers={"Retry-After": "120"})

    metrics = Metrics()
    async with RestClient(
        "http://binance.test", metrics, transport=httpx.MockTransport(answer)
    ) as client:
        fake_clock(client.budget, [])
        with pytest.raises(RestUnavailable, match="HTTP 503"):
            await client.latest("BTCUSDT", "trade")
        assert metrics.rest_requests == 4
        with pytest.raises(RestUnavailable, match=r"REST banned \(418\) for 120 s"):
            await client.first_in("BTCUSDT", 0, 60_000)
        with pytest.raises(RestUnavailable, match="REST banned"):
            await client.by_id("BTCUSDT", "trade", 1)
        assert client.banned_for() == pytest.approx(120)
    assert sent == answers
    assert metrics.rest_requests == 5


async def test_a_418_without_retry_after_bans_for_binances_shortest_ban() -> None:
    """A 418 whose Retry-After is missing keeps the client away 120 s (Binance's bans start at 2
    minutes), not the 60 s a header-less 429 waits."""
    sent: list[int] = []

    def banned(_request: httpx.Request) -> httpx.Response:
        sent.append(418)
        return httpx.Response(418)

    async with RestClient(
        "http://binance.test", Metrics(), transport=httpx.MockTransport(banned)
    ) as client:
        fake_clock(client.budget, [])
        with pytest.raises(RestUnavailable, match="418"):
            await client.latest("BTCUSDT", "trade")
        assert client.banned_for() == pytest.approx(120)
    assert sent == [418]
