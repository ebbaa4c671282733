"""A trading halt seen by the streamer and the quality checks together: a real halt never
turns data_quality red, before heal-gaps has confirmed it too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, default_symbols
from fakebinance.server import FakeBinance
from include.quality.checks import Window
from include.quality.runner import run_checks
from include.timeframes import build_timeframes
from tests.streamer.conftest import closed_rows, running, streamer_config, wait_until

pytestmark = pytest.mark.slow

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def halt_rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "select symbol, gap_start, gap_end, detected_by, healed_at from market.ingest_gaps "
            "where reason = 'halt' order by gap_start"
        ).fetchall()


async def test_a_fresh_halt_keeps_data_quality_green(database_url: str, tmp_path: Path) -> None:
    """ETHUSDT halts while the streamer runs (exchangeInfo shows HALT): the streamer records
    the halt and widens it while it lasts, so a quality run over the live minutes, freshness
    included, passes; the same run with that record removed fails (the check can fail)."""
    # The fake's clock is the wall's: the quality checks judge freshness by the database's.
    async with FakeBinance(MarketConfig(5, default_symbols()), clock=MarketClock()) as fake:
        cfg = streamer_config(
            fake, database_url, symbols=SYMBOLS, symbols_refresh_interval=0.5, close_grace=1.0
        )
        async with running(cfg, fake) as _streamer:
            await wait_until(
                lambda: all(closed_rows(database_url, s) for s in SYMBOLS), 90, "closed minutes"
            )
            fake.set_status("ETHUSDT", "HALT")
            await wait_until(lambda: bool(halt_rows(database_url)), 10, "the halt's record")
            last_eth = closed_rows(database_url, "ETHUSDT")[-1]["open_time"]
            # Two minutes later ETHUSDT is stale and missing minutes, but for the halt.
            later = last_eth + timedelta(minutes=3, seconds=5)
            await asyncio.sleep(max(0.0, (later - datetime.now(UTC)).total_seconds()))
            [(symbol, _start, end, detected_by, healed_at)] = halt_rows(database_url)
            assert (symbol, detected_by, healed_at) == ("ETHUSDT", "streamer", None)
            assert end >= datetime.now(UTC) - timedelta(minutes=1), "widened while it lasts"

    first = min(closed_rows(database_url, s)[0]["open_time"] for s in SYMBOLS)
    window = Window(first, datetime.now(UTC).replace(second=0, microsecond=0))
    build_timeframes(database_url, unit_tests=False)

    def check():
        return run_checks(
            database_url,
            window,
            symbols=SYMBOLS,
            expect_live=True,
            max_live_age=timedelta(seconds=30),
            gx_root=tmp_path / "gx",
        )

    report = check()
    assert report.success, report.summary()
    [halts] = [n for n in report.notes if n.name == "halts"]
    assert [r["symbol"] for r in halts.rows] == ["ETHUSDT"]

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from market.ingest_gaps where reason = 'halt'")
    unexplained = check()
    assert {(r.name, r.rows[0]["symbol"]) for r in unexplained.failures} >= {
        ("live_freshness", "ETHUSDT")
    }
