"""Benchmark the dbt timeframes: full build vs incremental day, history growth, query latency.

Usage: .venv/bin/python bench/dbt_bench.py [--symbols 20] [--days 365] [--month-days 30]

Starts its own embedded PostgreSQL under a temporary directory (or uses BENCH_DATABASE_URL's
server), fills market.klines_1m with synthetic 1-minute klines, and prints:
- the full build of a year of history (loaded just before, as a bootstrap does), the build
  right after it with nothing new, and the incremental build of one appended day (median of
  three days, appended and built one at a time), with their ratio (target: incremental < 5 %
  of full; all include dbt's own start-up);
- the same appended day on top of one month of history (target: within 20 % of the year's);
- p99 latency of "the last 500 candles of one symbol" on every mart (target: < 10 ms).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from bench.databases import fresh_database
from bench.results import command_line, record
from include.platform import pgserver
from include.platform.partitions import MARKET_TABLES, ensure_range
from include.timeframes import TIMEFRAMES, build_timeframes

logger = logging.getLogger(__name__)

HISTORY_END = datetime(2025, 1, 1, tzinfo=UTC)
INCREMENTAL_RUNS = 3

# Synthetic but valid candles, made set-based in SQL so ten million rows load in about a minute;
# float math only shapes the random walk, the stored values are rounded numerics.
GENERATE = """
insert into market.klines_1m (
    symbol, open_time, open, high, low, close, volume, quote_volume, trade_count,
    taker_buy_volume, taker_buy_quote_volume, source, loaded_at
)
select
    symbol,
    open_time,
    open,
    greatest(open, close) + spread,
    least(open, close) - spread,
    close,
    volume,
    round(volume * open, 8),
    trades,
    round(volume * 0.5, 8),
    round(volume * open * 0.5, 8),
    'dump_klines',
    %(loaded_at)s
from (
    select
        'SYM' || lpad(s::text, 4, '0') || 'USDT' as symbol,
        m.open_time,
        round((100 * s + 10 * sin(m.n / 500.0 + s))::numeric, 8) as open,
        round((100 * s + 10 * sin((m.n + 1) / 500.0 + s))::numeric, 8) as close,
        round((0.01 + abs(sin(m.n * 7.0 + s)))::numeric, 8) as spread,
        round((1 + abs(cos(m.n * 3.0 + s)) * 10)::numeric, 8) as volume,
        (m.n * 31 + s) %% 97 as trades
    from generate_series(1, %(symbols)s) as s
    cross join lateral (
        select
            t as open_time,
            (extract(epoch from t) / 60)::bigint as n
        from generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 minute',
                             interval '1 minute') as t
    ) as m
) as g
"""


def load(url: str, symbols: int, start: datetime, end: datetime, loaded_at: datetime) -> float:
    """Insert synthetic klines for [start, end); return seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # The months get their partitions first, as the loaders make them: rows left in the
        # DEFAULT partition would be moved out by the build's partition maintenance, which
        # the full build's time would then include (~30 s of a year's 10.5 M rows).
        for table in MARKET_TABLES:
            ensure_range(conn, table, start, end)
        conn.execute(
            GENERATE,
            {"symbols": symbols, "start": start, "end": end, "loaded_at": loaded_at},
        )
        conn.execute("vacuum analyze market.klines_1m")
    return time.perf_counter() - started


def history_then_one_day(
    url: str, symbols: int, days: int, target: Path
) -> tuple[float, float, float, int]:
    """Build `days` of history from scratch, build again with nothing new, then append one day
    at a time; return the three times (the last a median) and the rows."""
    # Like production, the incremental run reuses the full build's parse (dbt's partial parse).
    os.environ["DBT_TARGET_PATH"] = str(target)
    start = HISTORY_END - timedelta(days=days)
    # Stamped now, as the platform's bootstrap loads its history just before its first build.
    seconds = load(url, symbols, start, HISTORY_END, datetime.now(UTC))
    with psycopg.connect(url) as conn:
        rows = conn.execute("select count(*) from market.klines_1m").fetchone()[0]
    print(f"  loaded {rows:,} rows of {days} days x {symbols} symbols in {seconds:.1f} s")
    full = build_timeframes(url, full_refresh=True, unit_tests=False).seconds
    with psycopg.connect(url, autocommit=True) as conn:
        for tf in TIMEFRAMES:
            conn.execute(
                sql.SQL("vacuum analyze analytics.{}").format(sql.Identifier(f"candles_{tf}"))
            )
    # The next build, with nothing new: what it re-reads of the history just loaded (a blanket
    # 15-minute look-back re-read all of it; the exact horizon, what committed after the build).
    after = build_timeframes(url, unit_tests=False).seconds
    print(f"  the build right after, nothing new: {after:.1f} s")
    # Three new days, one build each: the median resists a neighbour's burst on a shared machine.
    runs = []
    for day in range(INCREMENTAL_RUNS):
        first = HISTORY_END + timedelta(days=day)
        load(url, symbols, first, first + timedelta(days=1), datetime.now(UTC))
        runs.append(build_timeframes(url, unit_tests=False).seconds)
    print(f"  incremental runs: {', '.join(f'{r:.1f} s' for r in runs)}")
    return full, after, statistics.median(runs), rows


def latency_p99(url: str, symbols: int, queries: int = 300) -> dict[str, float]:
    """p99 milliseconds of 'the last 500 candles of one symbol' per mart."""
    rng = random.Random(5)
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for tf in TIMEFRAMES:
            query = sql.SQL(
                "select * from analytics.{} where symbol = %s order by open_time desc limit 500"
            ).format(sql.Identifier(f"candles_{tf}"))
            timings = []
            for i in range(queries + 20):
                symbol = f"SYM{rng.randint(1, symbols):04d}USDT"
                started = time.perf_counter()
                conn.execute(query, (symbol,), prepare=True).fetchall()
                if i >= 20:  # the first queries warm the cache and the prepared plan
                    timings.append((time.perf_counter() - started) * 1000)
            out[tf] = statistics.quantiles(timings, n=100)[98]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--month-days", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench_dbt_") as tmp:
        server_url = os.environ.get("BENCH_DATABASE_URL")
        pgdata = Path(tmp) / "pg"
        if not server_url:
            server_url = pgserver.start(pgdata, pgserver.free_port()).url()
        try:
            print(f"year: {args.days} days of history, then one new day")
            year_url = fresh_database(server_url, "bench_dbt_year")
            full, after, incr_year, rows = history_then_one_day(
                year_url, args.symbols, args.days, Path(tmp) / "target_year"
            )
            print(f"  full build ({rows:,} 1m rows): {full:.1f} s")
            print(f"  the next build, nothing new: {after:.1f} s ({after / full:.1%} of it)")
            print(f"  incremental build of one new day (median): {incr_year:.1f} s")
            print(f"  ratio incremental / full: {incr_year / full:.1%} (target < 5%)")

            print(f"month: {args.month_days} days of history, then one new day")
            month_url = fresh_database(server_url, "bench_dbt_month")
            _, _, incr_month, _ = history_then_one_day(
                month_url, args.symbols, args.month_days, Path(tmp) / "target_month"
            )
            print(f"  incremental build of one new day (median): {incr_month:.1f} s")
            growth = incr_year / incr_month - 1
            print(f"  year vs month incremental: {growth:+.1%} (target within +-20%)")

            print("p99 latency of the last 500 candles of one symbol (year database):")
            p99s = latency_p99(year_url, args.symbols)
            for tf, p99 in p99s.items():
                print(f"  candles_{tf}: {p99:.2f} ms (target < 10 ms)")
            record(
                "dbt_bench",
                command_line(),
                {
                    f"full build ({rows:,} 1m rows)": f"{full:.1f} s",
                    "the next build, nothing new (right after the load)": f"{after:.1f} s: "
                    f"{after / full:.1%} of the full build",
                    "one new day incremental": f"{incr_year:.1f} s: {incr_year / full:.1%} of "
                    "the full build (target < 5%)",
                    "one new day on a year vs on a month": f"{growth:+.1%} (target within 20%)",
                    "p99 last 500 candles of one symbol": f"{min(p99s.values()):.1f}-"
                    f"{max(p99s.values()):.1f} ms per mart (target < 10 ms)",
                },
                rounds=1,
            )
        finally:
            if not os.environ.get("BENCH_DATABASE_URL"):
                pgserver.destroy(pgdata)


if __name__ == "__main__":
    main()
