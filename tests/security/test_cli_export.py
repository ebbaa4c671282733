"""`export --symbol` names a file: a symbol that is a path never writes outside --out
(issue #42, item 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from include.platform import db
from tests.support.paths import PROJECT_ROOT


@pytest.fixture
def mart_url(database_url: str) -> str:
    """A database with an (empty) 1m mart the reader may read, as dbt would leave it: the export
    gets as far as writing its file."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("create schema if not exists analytics")
        conn.execute(
            "create table if not exists analytics.candles_1m "
            "(like market.klines_1m, is_complete boolean)"
        )
        conn.execute(f"grant usage on schema analytics to {db.READER}")
        conn.execute(f"grant select on analytics.candles_1m to {db.READER}")
    return database_url


@pytest.mark.parametrize("symbol", ["../escaped", "sub/dir", "/tmp/abs", "BTC USDT", "."])
def test_a_path_as_symbol_is_refused_in_one_line(
    mart_url: str, tmp_path: Path, symbol: str
) -> None:
    """The export stops with one line naming the symbol, before any file is written, in --out
    or beside it."""
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "include.cli",
            "export",
            "--start",
            "2025-03-03",
            "--end",
            "2025-03-04",
            "--out",
            str(out),
            "--symbol",
            symbol,
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": mart_url, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: symbol "), line
    assert "not a Binance symbol" in line
    assert [p.name for p in tmp_path.rglob("*")] == [], "a file was written"
