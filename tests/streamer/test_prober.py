"""Quiet symbols' minutes close by proof: one 24-hour ticker for many, a probe for the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, default_symbols, quiet_symbol
from fakebinance.server import FakeBinance
from tests.support import streamer as support

QUIET = tuple(f"QUIET{i:02d}USDT" for i in range(30))
SYMBOLS = ("BTCUSDT", "ETHUSDT", "PEPEUSDT", *QUIET)


@pytest.fixture
async def quiet_market() -> AsyncIterator[FakeBinance]:
    """Three busy symbols and thirty that trade about once every three minutes."""
    config = MarketConfig(7, (*default_symbols(), *(quiet_symbol(s) for s in QUIET)))
    clock = MarketClock(start=support.START, speed=support.SPEED)
    async with FakeBinance(config, clock=clock, tick_interval=0.02) as server:
        yield server


@pytest.mark.slow
async def test_thirty_quiet_symbols_close_by_one_ticker_a_minute(
    quiet_market: FakeBinance, database_url: str
) -> None:
    """Thirty quiet symbols: each minute's idle and sparse candles close exact, proven by the
    24-hour ticker (weight 80 for all) instead of an aggTrades probe each (weight 4 apiece,
    120 a minute here, 6,000 at ALL). On the old code there is no ticker request at all."""
    fake = quiet_market
    config = support.streamer_config(fake, database_url, symbols=SYMBOLS)
    async with support.running(config, fake) as streamer:
        await support.market_minutes(fake, 1.5)
        before = dict(fake.rest.requests)  # past the start's own requests (a seed each)
        closed_before = sum(len(support.closed_rows(database_url, s)) for s in QUIET)
        await support.market_minutes(fake, 4)
        assert streamer.metrics.malformed == 0
    support.assert_exact(fake, database_url, SYMBOLS, min_rows=4)
    quiet_minutes = sum(len(support.closed_rows(database_url, s)) for s in QUIET) - closed_before
    asked = {p: n - before.get(p, 0) for p, n in fake.rest.requests.items()}
    assert quiet_minutes >= 3 * len(QUIET), quiet_minutes
    assert asked.get("/api/v3/ticker/24hr", 0) >= 3, asked
    # The probes left are for symbols whose id moved since the stream's last trade.
    assert asked.get("/api/v3/aggTrades", 0) <= quiet_minutes / 10, (asked, quiet_minutes)
    # Every quiet symbol's minutes are closed up to a minute before the end.
    newest = {s: support.closed_rows(database_url, s)[-1]["open_time"] for s in QUIET}
    assert len(set(newest.values())) <= 2, newest
    assert support.gap_rows(database_url) == []
