"""/metrics counts what it names: every trade message received, per symbol."""

from __future__ import annotations

import re

from prometheus_client import generate_latest

from fakebinance.server import FakeBinance
from tests.streamer.conftest import market_minutes, running, streamer_config

SYMBOLS = ("BTCUSDT", "ETHUSDT", "PEPEUSDT", "QUIETUSDT")


def samples(page: str, name: str) -> dict[str, float]:
    """Per-symbol values of one labelled counter on a /metrics page."""
    return {
        symbol: float(value)
        for symbol, value in re.findall(rf'^{name}{{symbol="(\w+)"}} (\S+)$', page, re.M)
    }


async def test_messages_total_counts_every_trade_message(
    fake: FakeBinance, database_url: str
) -> None:
    """Every data frame the fake sent is counted once, under its symbol."""
    async with running(streamer_config(fake, database_url), fake) as streamer:
        await market_minutes(fake, 1.5)
        page = generate_latest(streamer.metrics.registry).decode()
        sent = fake.hub.stats["messages_sent"]
    messages = samples(page, "streamer_messages_total")
    assert set(messages) >= {"BTCUSDT", "ETHUSDT", "PEPEUSDT"}
    assert all(n > 0 for n in messages.values())
    # The fake's count also holds the replies to SUBSCRIBE; trade frames are all the rest.
    subscribes = sent - sum(messages.values())
    assert 0 <= subscribes <= 4, (sent, messages)
    # One @trade message is one trade; REST repairs and the start-up seed add trades, not messages.
    trades = samples(page, "streamer_trades_total")
    assert all(trades[s] >= n for s, n in messages.items())
