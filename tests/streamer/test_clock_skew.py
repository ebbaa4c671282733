"""Minutes close on the exchange's time, whatever the host clock says (skewed by ±5 s)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from fakebinance.server import FakeBinance
from streamer.app import Streamer
from tests.streamer.conftest import assert_exact, market_minutes, streamer_config

SYMBOLS = ("BTCUSDT", "QUIETUSDT")


@contextlib.asynccontextmanager
async def skewed(fake: FakeBinance, database_url: str, skew_ms: int) -> AsyncIterator[Streamer]:
    """A streamer whose host clock runs skew_ms ahead of (or behind) the exchange's."""
    config = streamer_config(fake, database_url, symbols=SYMBOLS)
    streamer = Streamer(config, clock_ms=lambda: fake.clock.now_ms() + skew_ms)
    stop = asyncio.Event()
    task = asyncio.ensure_future(streamer.run(stop))
    await asyncio.wait_for(streamer.ready.wait(), 10)
    try:
        yield streamer
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 40) == 0


@pytest.mark.parametrize("skew_ms", [5_000, -5_000])
async def test_quiet_minutes_close_on_exchange_time(
    fake: FakeBinance, database_url: str, skew_ms: int
) -> None:
    """Ahead: no minute closes before its last trade is in. Behind: minutes still close."""
    async with skewed(fake, database_url, skew_ms) as streamer:
        await market_minutes(fake, 5.3)
        assert abs(streamer.clock_ms() - fake.clock.now_ms()) < 1_000
    counts = assert_exact(fake, database_url, SYMBOLS, min_rows=3)
    assert counts["QUIETUSDT"] >= 3
