"""End-to-end: the streamer against the fake exchange and a real PostgreSQL."""

from __future__ import annotations

from fakebinance.server import FakeBinance
from tests.streamer.conftest import (
    assert_exact,
    gap_rows,
    market_minutes,
    running,
    streamer_config,
)

SYMBOLS = ("BTCUSDT", "ETHUSDT", "PEPEUSDT", "QUIETUSDT")


async def test_closed_candles_equal_official_klines(fake: FakeBinance, database_url: str) -> None:
    """Closed candles of busy, tiny-priced and quiet symbols equal the official klines."""
    async with running(streamer_config(fake, database_url), fake) as streamer:
        await market_minutes(fake, 4.2)
        assert streamer.metrics.malformed == 0
    counts = assert_exact(fake, database_url, SYMBOLS, min_rows=3)
    assert all(n >= 3 for n in counts.values())
    assert gap_rows(database_url) == []
