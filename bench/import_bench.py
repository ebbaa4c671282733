"""Bench: import a 5-million-row trades dump to 1m candles, beside a bare polars.read_csv of it.

Run: `.venv/bin/python bench/import_bench.py [--rows 5000000]` (uses DATABASE_URL or the
embedded PostgreSQL). Target: the whole import within 3x the bare parse.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import psycopg

from bench.results import command_line, record
from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, SymbolSpec, utc
from fakebinance.dumps import write_dump
from fakebinance.market import Market
from include.history.dumps.load import import_file
from include.platform import db, migrate

logger = logging.getLogger(__name__)
DAY = date(2025, 2, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    # The fake draws ~1.3 trades per taker order; aim the day's trade count at --rows.
    per_minute = args.rows / 1440
    spec = SymbolSpec("BENCHUSDT", Decimal("93500"), 2, 5, per_minute, utc(2024, 1, 1))
    market = Market(MarketConfig(7, (spec,)), MarketClock(utc(2025, 3, 1), speed=0))
    url = db.resolve_database_url()
    migrate.migrate(url)
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        path = write_dump(market, "trades", "BENCHUSDT", DAY, out_dir=folder)
        print(f"dump written in {time.perf_counter() - started:.1f} s: {path.name}")
        with zipfile.ZipFile(path) as archive:
            archive.extractall(folder / "csv")
        csv_path = next((folder / "csv").iterdir())

        started = time.perf_counter()
        bare = pl.read_csv(csv_path, has_header=False)
        parse_s = time.perf_counter() - started
        rows = bare.height
        del bare

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from market.klines_1m where symbol = 'BENCHUSDT'")
            conn.execute("delete from market.imported_files where symbol = 'BENCHUSDT'")
            conn.execute(
                "insert into market.symbols (symbol, status) values ('BENCHUSDT', 'TRADING') "
                "on conflict do nothing"
            )
        started = time.perf_counter()
        result = import_file(str(path), database_url=url)
        import_s = time.perf_counter() - started
    print(f"rows: {rows:,}  candles: {result.candles}")
    print(f"polars.read_csv alone:        {parse_s:6.2f} s  {rows / parse_s:12,.0f} rows/s")
    print(f"import (unzip..COPY, commit): {import_s:6.2f} s  {rows / import_s:12,.0f} rows/s")
    print(f"ratio import / bare parse:    {import_s / parse_s:6.2f}x  (target <= 3x)")
    record(
        "import_bench",
        command_line(),
        {
            "import vs bare polars.read_csv": f"{import_s / parse_s:.2f}x (target <= 3x)",
            "import": f"{import_s:.2f} s against a bare parse of {parse_s:.2f} s, {rows:,} rows",
        },
        rounds=1,
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
