"""End-to-end: the streamer against the fake exchange and a real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from fakebinance.server import FakeBinance
from include.platform import db
from streamer.config import load_config
from tests.support import streamer as support
from tests.support.db import record_writers

SYMBOLS = ("BTCUSDT", "ETHUSDT", "PEPEUSDT", "QUIETUSDT")


@pytest.mark.slow
async def test_closed_candles_equal_official_klines(fake: FakeBinance, database_url: str) -> None:
    """Closed candles of busy, tiny-priced and quiet symbols equal the official klines."""
    async with support.running(support.streamer_config(fake, database_url), fake) as streamer:
        await support.market_minutes(fake, 4.2)
        assert streamer.metrics.malformed == 0
    counts = support.assert_exact(fake, database_url, SYMBOLS, min_rows=3)
    assert all(n >= 3 for n in counts.values())
    assert support.gap_rows(database_url) == []


async def test_the_streamer_connects_and_writes_as_streamer_writer(
    fake: FakeBinance, database_url: str
) -> None:
    """Its configuration logs in as streamer_writer on DATABASE_URL's database: the writer's
    session in pg_stat_activity and every write of the live table are that role's."""
    config = load_config()
    assert config.database_url == db.role_url(database_url, db.STREAMER)
    with psycopg.connect(database_url, autocommit=True) as conn:
        writers = record_writers(conn, "market.candles_1m_live")

        def sessions() -> set[str]:
            rows = conn.execute(
                "select usename from pg_stat_activity "
                "where application_name = 'streamer' and datname = current_database()"
            )
            return {row[0] for row in rows}

        cfg = support.streamer_config(fake, config.database_url, symbols=("BTCUSDT",))
        async with support.running(cfg, fake):
            await support.wait_until(
                lambda: bool(sessions()), 10, "the streamer's database session"
            )
            assert sessions() == {db.STREAMER}
            await support.wait_until(lambda: bool(writers()), 10, "a live candle written")
    assert writers() == {db.STREAMER}
