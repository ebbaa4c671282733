"""Bench: a full data-quality check over one year x 20 symbols of 1m candles.

Run: `.venv/bin/python bench/quality_bench.py [--days 365] [--symbols 20]`. It uses a database
`quality_bench` on the DATABASE_URL server (or the embedded PostgreSQL), recreated each run:
synthetic but valid candles are generated inside PostgreSQL, the timeframes are built with dbt,
then `run_checks` validates the whole range. Prints the check time, rows per second and the
ratio of check time to dbt build time, all measured in this run.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from bench.results import command_line, record
from bench.synthetic import synthetic_klines
from include.platform import db, migrate
from include.platform.partitions import LIVE, MARKET_TABLES, ensure_range
from include.quality import Window, run_checks
from include.timeframes import build_timeframes

logger = logging.getLogger(__name__)

BENCH_DB = "quality_bench"
START = datetime(2024, 1, 1, tzinfo=UTC)

# Exact decimals from integer arithmetic: every candle satisfies the invariants.
GENERATE = synthetic_klines(
    values="""\
    symbol,
    open_time,
    open,
    greatest(open, close) + 0.05,
    least(open, close) - 0.05,
    close,
    volume,
    volume * open,
    trade_count,
    volume / 2,
    volume * open / 2,
    'rest'""",
    per_minute="""\
        100 + s + (m %% 1000) / 100.0 as open,
        100 + s + (m %% 1000) / 100.0 + ((m %% 7) - 3) / 100.0 as close,
        (m %% 13) + 0.5 as volume,
        m %% 50 as trade_count""",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--symbols", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")

    server_url = db.resolve_database_url()
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(BENCH_DB)))
    db.ensure_database(server_url, BENCH_DB)
    url = db.with_database(server_url, BENCH_DB)
    migrate.migrate(url)
    end = START + timedelta(days=args.days)
    live_since = end - timedelta(days=1)
    symbols = [f"SYM{i:04d}USDT" for i in range(1, args.symbols + 1)]

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # Months first, as the loaders make them (else the build moves the rows out of DEFAULT);
        # the live table's days from its first row on, as the platform (days made ahead,
        # dropped after the retention) holds them, never a year of empty ones.
        for table in MARKET_TABLES:
            ensure_range(conn, table, live_since if table == LIVE else START, end)
        conn.execute(GENERATE, {"symbols": args.symbols, "start": START, "end": end})
        # The last day also arrived live, so reconciliation has work to do.
        conn.execute(
            "insert into market.candles_1m_live select symbol, open_time, open, high, low, close,"
            " volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, true,"
            " null, null, open_time + interval '61 seconds' from market.klines_1m"
            " where open_time >= %s",
            (live_since,),
        )
        conn.execute("vacuum analyze market.klines_1m")
        conn.execute("vacuum analyze market.candles_1m_live")
        rows = conn.execute("select count(*) from market.klines_1m").fetchone()[0]
    generated = time.perf_counter() - started
    size = f"{args.symbols} symbols x {args.days} days"
    print(f"generated {rows} 1m candles ({size}) in {generated:.0f} s")

    started = time.perf_counter()
    build_timeframes(url, full_refresh=True)
    built = time.perf_counter() - started
    print(f"dbt build (full refresh) of the 7 timeframes: {built:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report = run_checks(
            url, Window(START, end), symbols=symbols, expect_live=False, gx_root=Path(tmp) / "gx"
        )
        checked = time.perf_counter() - started
    print(report.summary().splitlines()[0])
    total = sum(report.rows_checked.values())
    print(
        f"full check: {checked:.1f} s for {len(report.results)} expectations over {total} rows "
        f"in 9 tables ({rows} 1m candles); {rows / checked / 1e6:.2f} M 1m candles/s; "
        f"check / dbt build = {checked / built:.2f}"
    )
    if not report.success:
        raise SystemExit("the bench data should pass every check")
    record(
        "quality_bench",
        command_line(),
        {
            f"full data-quality check, {size}": f"{checked:.1f} s, {len(report.results)} "
            "expectations passing",
            "vs the dbt full build": f"{built:.1f} s: ratio {checked / built:.2f} (target <= 0.5)",
        },
        rounds=1,
    )


if __name__ == "__main__":
    main()
