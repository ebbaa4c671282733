"""Bench: a full data-quality check over one year x 20 symbols of 1m candles.

Run: `.venv/bin/python bench/quality_bench.py [--days 365] [--symbols 20] [--rounds 3]`. It uses
a database `quality_bench` on the DATABASE_URL server (or the embedded PostgreSQL), recreated
each run (`--reuse` keeps the one a previous run left, its candles as they were): synthetic but
valid candles are generated inside PostgreSQL, then each round builds the timeframes with dbt
(a full refresh) and `run_checks` validates the whole range. Prints per round the check time,
rows per second and the ratio of check time to that round's dbt build time, then the median
and spread of the rounds, all measured in this run.
"""

from __future__ import annotations

import argparse
import logging
import statistics
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
    parser.add_argument("--rounds", type=int, default=3, help="dbt build + check, measured")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the candles a previous run generated"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")

    server_url = db.resolve_database_url()
    url = db.with_database(server_url, BENCH_DB)
    end = START + timedelta(days=args.days)
    symbols = [f"SYM{i:04d}USDT" for i in range(1, args.symbols + 1)]
    size = f"{args.symbols} symbols x {args.days} days"
    rows = generate(server_url, url, args) if not args.reuse else count_klines(url)

    checks, builds, ratios = [], [], []
    for round_ in range(1, args.rounds + 1):
        started = time.perf_counter()
        build_timeframes(url, full_refresh=True)
        built = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            report = run_checks(
                url,
                Window(START, end),
                symbols=symbols,
                expect_live=False,
                gx_root=Path(tmp) / "gx",
            )
            checked = time.perf_counter() - started
        if not report.success:
            raise SystemExit(f"the bench data should pass every check:\n{report.summary()}")
        total = sum(report.rows_checked.values())
        print(report.summary().splitlines()[0])
        print(
            f"round {round_}: dbt build (full refresh) of the 7 timeframes {built:.1f} s; "
            f"full check {checked:.1f} s for {len(report.results)} expectations over {total} "
            f"rows in 9 tables ({rows / checked / 1e6:.2f} M 1m candles/s); "
            f"check / dbt build = {checked / built:.2f}"
        )
        checks.append(checked)
        builds.append(built)
        ratios.append(checked / built)
    ratio = statistics.median(ratios)
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
    print(
        f"full check {statistics.median(checks):.1f} s median ({min(checks):.1f}-"
        f"{max(checks):.1f} s), dbt build {statistics.median(builds):.1f} s median: ratio "
        f"{ratio:.2f} ({spread}; target <= 0.4)"
    )
    record(
        "quality_bench",
        command_line(),
        {
            f"full data-quality check, {size}": f"{statistics.median(checks):.1f} s median "
            f"({min(checks):.1f}-{max(checks):.1f} s), {len(report.results)} expectations "
            "passing",
            "vs the dbt full build": " / ".join(f"{b:.1f}" for b in builds)
            + f" s: ratio {ratio:.2f} ({spread}; target <= 0.4)",
        },
        rounds=args.rounds,
        spread=spread,
    )


def count_klines(url: str) -> int:
    """The 1m candles a previous run generated (--reuse)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("select count(*) from market.klines_1m").fetchone()[0]


def generate(server_url: str, url: str, args: argparse.Namespace) -> int:
    """A fresh database of `args.symbols` x `args.days` of valid 1m candles, the last day also
    live; returns how many 1m candles."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(BENCH_DB)))
    db.ensure_database(server_url, BENCH_DB)
    migrate.migrate(url)
    end = START + timedelta(days=args.days)
    live_since = end - timedelta(days=1)
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
    size = f"{args.symbols} symbols x {args.days} days"
    print(f"generated {rows} 1m candles ({size}) in {time.perf_counter() - started:.0f} s")
    return rows


if __name__ == "__main__":
    main()
