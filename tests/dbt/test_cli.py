"""`python -m include.cli build-timeframes`: exit status and one-line reasons."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.cli import run_cli as cli
from tests.support.dbt import load_klines


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, env={**os.environ, "DATABASE_URL": database_url}, timeout=240)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_build_timeframes_command_builds_the_marts(database_url, conn, window_klines):
    """The command exits 0 and leaves analytics.candles_1d filled."""
    load_klines(conn, "ETHUSDT", window_klines["ETHUSDT"][:2880])

    done = run_cli("build-timeframes", database_url=database_url)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "dbt build succeeded" in done.stdout
    assert conn.execute("select count(*) from analytics.candles_1d").fetchone() == (2,)


@pytest.mark.slow
def test_impossible_candle_fails_the_build_with_a_one_line_reason(
    database_url, conn, window_klines
):
    """A kline with low above its open fails the invariant test: exit 1, one line naming it."""
    load_klines(conn, "ETHUSDT", window_klines["ETHUSDT"][:60])
    conn.execute(
        "update market.klines_1m set low = open + 1 "
        "where open_time = (select min(open_time) from market.klines_1m)"
    )

    done = run_cli("build-timeframes", database_url=database_url)

    assert done.returncode == 1
    (line,) = error_lines(done.stderr)
    assert line.startswith("error: dbt build failed: Failure in test candle_invariants_candles_1m")


def test_unmigrated_database_fails_with_a_one_line_reason(empty_database_url):
    """Without the platform's tables the command exits 1 and says which relation is missing."""
    done = run_cli("build-timeframes", database_url=empty_database_url)

    assert done.returncode == 1
    (line,) = error_lines(done.stderr)
    assert "does not exist" in line, line
