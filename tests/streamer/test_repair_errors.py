"""A repair that fails with an unexpected error is retried, shown, and never freezes a symbol.

The fault is injected at the REST client's boundary (its fetches of trades raise an error
nobody foresaw); the repair logic, the writer, /metrics and /healthz are the real ones, read
over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
import pytest

from fakebinance.server import FakeBinance
from streamer.__main__ import JsonFormatter
from streamer.app import Streamer
from tests.support import streamer as support

BUSY = ("BTCUSDT", "ETHUSDT", "PEPEUSDT")
FAULT = 'streamer_repair_errors_total{error="RuntimeError"}'


def break_rest(streamer: Streamer, times: int | None) -> list[int]:
    """Make the next ``times`` REST fetches of trades, by id or by time (None: all of them),
    raise a RuntimeError."""
    assert streamer.rest is not None
    rest = streamer.rest
    calls: list[int] = []

    def broken(real: Callable[..., Awaitable[list]]) -> Callable[..., Awaitable[list]]:
        async def fetch(*args: object, **kwargs: object) -> list:
            calls.append(1)
            if times is None or len(calls) <= times:
                raise RuntimeError("REST answered something nobody foresaw")
            return await real(*args, **kwargs)

        return fetch

    rest.by_id = broken(rest.by_id)  # type: ignore[method-assign]
    rest.get_aggs_between = broken(rest.get_aggs_between)  # type: ignore[method-assign]
    return calls


def lose_trades(fake: FakeBinance) -> None:
    """Drop the connection and refuse reconnects for a while: trades are missed, gaps found."""
    fake.refuse_connections(0.6)
    assert fake.drop_connections() == 1


async def scrape(streamer: Streamer) -> tuple[int, dict, str]:
    """/healthz status and body, and the /metrics page, over HTTP."""
    base = f"http://127.0.0.1:{streamer.health_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/healthz") as resp:
            status, health = resp.status, orjson.loads(await resp.read())
        async with http.get(base + "/metrics") as resp:
            page = await resp.text()
    return status, health, page


async def wait_async(predicate: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """wait_until for an async predicate."""
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def metric(page: str, sample: str) -> float:
    """One sample's value on a /metrics page (0 when absent)."""
    for line in page.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.slow
async def test_unexpected_error_is_retried_logged_counted_and_the_gap_heals(
    fake: FakeBinance, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The first attempt raises; the retry heals; /metrics, /healthz and the log say so."""
    caplog.set_level(logging.INFO, logger="streamer")
    config = support.streamer_config(fake, database_url, symbols=BUSY)
    async with support.running(config, fake) as streamer:
        await support.market_minutes(fake, 1.2)
        calls = break_rest(streamer, times=1)
        lose_trades(fake)
        await support.market_minutes(fake, 2.5)
        await support.wait_until(lambda: streamer.aggregator.pending_gaps() == 0, 10, "repairs")
        assert len(calls) >= 2
        status, health, page = await scrape(streamer)
    assert metric(page, FAULT) == 1
    assert status == 200, "one failed attempt that the retry fixed is healthy"
    assert health["gaps"]["repair_errors"] >= 1
    assert health["gaps"]["repairs_failing"] == 0
    assert "RuntimeError" in health["gaps"]["last_repair_error"]
    support.assert_exact(fake, database_url, BUSY, min_rows=3)
    assert all(r["healed_at"] is not None for r in support.gap_rows(database_url))
    # Logged once, as an error with the gap's context, as one JSON line.
    (failed,) = [r for r in caplog.records if r.getMessage().startswith("repair of gap")]
    line = orjson.loads(JsonFormatter().format(failed))
    assert line["level"] == "error"
    assert line["error"] == "RuntimeError"
    assert line["attempt"] == 1
    assert line["symbol"] in BUSY
    assert line["gap_start"]
    assert line["retry_in_s"] > 0
    assert "RuntimeError" in line["exc"]


@pytest.mark.slow
async def test_a_repair_that_never_succeeds_is_unhealthy_then_left_to_heal_gaps(
    fake: FakeBinance, database_url: str
) -> None:
    """Every attempt raises: /healthz turns 503 while it keeps failing; past the deadline the
    gap is recorded unhealed, /healthz is 200 again and every symbol closes minutes again."""
    config = support.streamer_config(
        fake, database_url, symbols=BUSY, repair_deadline=3.0, health_max_repair_failing=0.5
    )
    async with support.running(config, fake) as streamer:
        await support.market_minutes(fake, 1.2)
        break_rest(streamer, times=None)
        lose_trades(fake)
        unhealthy: list[dict] = []

        async def turned_unhealthy() -> bool:
            status, health, _page = await scrape(streamer)
            if status == 503:
                unhealthy.append(health)
            return bool(unhealthy)

        await wait_async(turned_unhealthy, 15, "/healthz to report the failing repair")
        assert unhealthy[0]["gaps"]["repairs_failing"] >= 1
        assert "RuntimeError" in unhealthy[0]["gaps"]["last_repair_error"]
        await support.wait_until(
            lambda: streamer.metrics.gaps_unhealed >= 1, 15, "the repair to give up"
        )
        await support.wait_until(
            lambda: not streamer.gaps.retries.failing, 15, "every repair to end"
        )
        before = {s: len(support.closed_rows(database_url, s)) for s in BUSY}
        await support.market_minutes(fake, 2.5)
        status, health, page = await scrape(streamer)
    assert status == 200
    assert health["gaps"]["repairs_failing"] == 0
    assert metric(page, FAULT) >= 2
    assert metric(page, "streamer_gaps_unhealed_total") >= 1
    unhealed = [r for r in support.gap_rows(database_url) if r["healed_at"] is None]
    assert unhealed, "the gap stays recorded for heal-gaps"
    assert all("RuntimeError" in r["detail"] for r in unhealed)
    for symbol in BUSY:
        assert len(support.closed_rows(database_url, symbol)) >= before[symbol] + 2, symbol
    # Whatever closed is exact; the unrepaired minutes stay open for the official klines.
    support.assert_exact(fake, database_url, BUSY, min_rows=3, contiguous=False)
