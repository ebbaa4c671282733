"""/metrics counts what it names, checked against what the fake exchange says it did.

Both sides are read over HTTP: the streamer's /metrics and the fake's /fake/stats.
"""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp

from fakebinance.server import FakeBinance
from streamer.app import Streamer
from tests.support.streamer import market_minutes, running, streamer_config, wait_until

SYMBOLS = ("BTCUSDT", "ETHUSDT", "PEPEUSDT", "QUIETUSDT")


async def scrape(streamer: Streamer, fake: FakeBinance) -> tuple[str, dict[str, int]]:
    """The streamer's /metrics page and the fake's /fake/stats counters."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{streamer.health_port}/metrics") as resp:
            page = await resp.text()
        async with http.get(f"{fake.url}/fake/stats") as resp:
            stats = await resp.json()
    return page, stats


def samples(page: str, name: str, label: str) -> dict[str, float]:
    """The values of one labelled counter on a /metrics page, by label value."""
    pattern = rf'^{name}{{{label}="([^"]+)"}} (\S+)$'
    return {key: float(value) for key, value in re.findall(pattern, page, re.M)}


async def test_messages_total_equals_the_messages_the_fake_sent(
    fake: FakeBinance, database_url: str
) -> None:
    """Once the feed stops, the per-symbol counts add up to every frame the fake sent, less the
    one SUBSCRIBE reply per connection; each @trade message is one trade folded."""
    # A frozen market is a silent socket: keep it rather than reconnect while counting.
    config = streamer_config(fake, database_url, silence_timeout=30.0)
    async with running(config, fake) as streamer:
        await market_minutes(fake, 1.5)
        fake.clock.set(fake.clock.now_us(), speed=0)  # the market stops: nothing more is sent
        deadline = time.monotonic() + 10
        while True:
            page, stats = await scrape(streamer, fake)
            messages = samples(page, "streamer_messages_total", "symbol")
            expected = stats["messages_sent"] - stats["connections_total"]
            if sum(messages.values()) == expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    assert sum(messages.values()) == expected > 100, (messages, stats)
    assert set(messages) >= {"BTCUSDT", "ETHUSDT", "PEPEUSDT"}
    # One @trade message is one trade; REST repairs and the start-up seed add trades, not messages.
    trades = samples(page, "streamer_trades_total", "symbol")
    assert all(trades[s] >= n for s, n in messages.items())


async def test_reconnects_total_counts_every_failed_attempt(
    fake: FakeBinance, database_url: str
) -> None:
    """A drop followed by refused attempts: every one of them is a reconnect on /metrics."""
    async with running(streamer_config(fake, database_url), fake) as streamer:
        await market_minutes(fake, 0.5)
        fake.refuse_connections(0.6)
        assert fake.drop_connections() == 1
        await wait_until(lambda: streamer.shards[0].state != "connected", 5, "the drop")
        await wait_until(lambda: streamer.shards[0].state == "connected", 10, "a reconnect")
        page, stats = await scrape(streamer, fake)
    reconnects = samples(page, "streamer_reconnects_total", "connection")
    assert stats["refused"] >= 1
    # Every attempt after the first is a reconnect: the dropped one's replacement and each refusal.
    assert reconnects == {"conn1": stats["connections_total"] - 1 + stats["refused"]}, stats
