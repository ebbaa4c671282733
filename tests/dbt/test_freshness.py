"""The dbt freshness gate on the live table applies only while the streamer is expected to run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.timeframes import (
    SourceStale,
    TimeframeBuildError,
    build_timeframes,
    check_source_freshness,
)
from tests.support.dbt import kline_values, load_klines, write_live

pytestmark = pytest.mark.slow


def live_written(conn: psycopg.Connection, ago: timedelta, window_klines) -> None:
    """One closed live candle whose last write was `ago` before now."""
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - ago
    write_live(conn, "BTCUSDT", minute, kline_values(window_klines["BTCUSDT"][0]), is_closed=True)
    conn.execute("update market.candles_1m_live set updated_at = now() - %s", (ago,))


@pytest.fixture
def built(database_url: str, conn: psycopg.Connection, window_klines) -> str:
    """Fresh official klines and the marts built over them."""
    load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"][:60])
    build_timeframes(database_url, unit_tests=False)
    return database_url


def test_stopped_streamer_is_not_a_freshness_failure(built: str, conn, window_klines) -> None:
    """Live candles last written three hours ago: the streamer is not running here, no failure."""
    live_written(conn, timedelta(hours=3), window_klines)
    assert check_source_freshness(built).ok


def test_stalled_streamer_fails_freshness(built: str, conn, window_klines) -> None:
    """Live candles last written ten minutes ago: the streamer should be writing and is late."""
    live_written(conn, timedelta(minutes=10), window_klines)
    with pytest.raises(TimeframeBuildError, match="freshness"):
        check_source_freshness(built)


def test_a_stale_source_is_told_from_a_freshness_run_that_failed(
    built: str, conn, window_klines
) -> None:
    """A stale live table fails as SourceStale (the DAG fails it without retries); dbt unable
    to query its sources is a plain build error, retried."""
    live_written(conn, timedelta(minutes=10), window_klines)
    with pytest.raises(SourceStale, match="freshness"):
        check_source_freshness(built)
    conn.execute("alter table market.klines_1m rename column loaded_at to loaded_at_gone")
    try:
        with pytest.raises(TimeframeBuildError) as failed:
            check_source_freshness(built)
        assert not isinstance(failed.value, SourceStale), failed.value
    finally:
        conn.execute("alter table market.klines_1m rename column loaded_at_gone to loaded_at")
