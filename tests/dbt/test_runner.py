"""The plain-Python side of the dbt runner: DATABASE_URL translation and mark_dirty."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import pytest

from fakebinance.config import utc
from include.timeframes import TimeframeBuildError, build_timeframes, dbt_env, mark_dirty


def test_dbt_env_is_derived_from_database_url():
    """profiles.yml gets host, port, user, password and database from DATABASE_URL."""
    env = dbt_env("postgresql://alice:s%40cret@db.example:6543/candles?sslmode=require")

    assert env == {
        "DBT_PGHOST": "db.example",
        "DBT_PGPORT": "6543",
        "DBT_PGUSER": "alice",
        "DBT_PGPASSWORD": "s@cret",
        "DBT_PGDATABASE": "candles",
        "DBT_PGSSLMODE": "require",
    }


def test_dbt_env_rejects_a_url_without_database():
    """A DATABASE_URL naming no database is refused with a clear reason."""
    with pytest.raises(TimeframeBuildError, match="names no database"):
        dbt_env("postgresql://postgres@127.0.0.1:5432/")


def test_mark_dirty_records_the_range(conn):
    """mark_dirty stores the symbol (upper-cased) and the half-open range for the next build."""
    mark_dirty(conn, "btcusdt", utc(2024, 9, 4, 7), utc(2024, 9, 4, 10), reason="healed gap")

    assert conn.execute(
        "select symbol, range_start, range_end, reason from market.timeframe_dirty_ranges"
    ).fetchall() == [("BTCUSDT", utc(2024, 9, 4, 7), utc(2024, 9, 4, 10), "healed gap")]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2024, 9, 4), datetime(2024, 9, 5), "timezone-aware"),
        (utc(2024, 9, 5), utc(2024, 9, 4), "empty range"),
    ],
)
def test_mark_dirty_refuses_bad_ranges(conn, start, end, message):
    """Naive datetimes and empty ranges are refused before anything is written."""
    with pytest.raises(ValueError, match=message):
        mark_dirty(conn, "BTCUSDT", start, end)
    assert conn.execute("select count(*) from market.timeframe_dirty_ranges").fetchone() == (0,)


def test_dbt_progress_is_logged_as_it_happens(database_url, caplog, tmp_path, monkeypatch):
    """Each line dbt prints is logged when dbt prints it, not all at once when it exits: a
    build at ALL runs minutes, and its task log showed nothing until the end."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path))
    caplog.set_level(logging.INFO, logger="include.timeframes")
    build_timeframes(database_url, unit_tests=False)
    ended = time.time()
    lines = [r for r in caplog.records if r.getMessage().startswith("dbt: ")]
    assert any("START sql" in r.getMessage() for r in lines)
    assert any("Completed successfully" in r.getMessage() for r in lines)
    # dbt's first line (its version) is logged seconds before the build ends, not with the rest
    # when it exits (a whole build takes several seconds here: models, then data tests).
    first, last = lines[0].created, lines[-1].created
    assert ended - first > 2, (ended - first, ended - last)
    assert last - first > 1, (ended - first, ended - last)
