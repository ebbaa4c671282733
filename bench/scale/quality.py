"""The quality section: seconds per scheduled data-quality run at ALL."""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from bench.databases import fresh_database
from bench.quality_bench import GENERATE
from bench.scale.common import ALL_SYMBOLS, NOW
from include.platform import db
from include.platform.partitions import LIVE, MARKET_TABLES, ensure_range
from include.quality import Window, run_checks
from include.quality.checks import CANDLE_TABLES, all_checks, render
from include.quality.runner import window_counts
from include.timeframes import build_timeframes

QUALITY_DB = "scale_bench_quality"
QUALITY_WINDOW = timedelta(hours=24)
DAY_OF_RUNS = 288  # the data_quality DAG follows build_timeframes, every 5 minutes

# A gap heal-gaps recorded and healed: one per symbol at the same hours of every `every` day(s).
GAPS = """
insert into market.ingest_gaps (
    symbol, gap_start, gap_end, reason, detected_by, healed_at, healed_by
)
select
    listed.symbol, day + interval '{opens}', day + interval '{closes}', '{reason}',
    'heal-gaps', day + interval '{healed}', 'rest'
from market.symbols as listed
cross join generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '{every}') as day
on conflict do nothing;
"""
MISSING = GAPS.format(
    opens="7 hours", closes="7 hours 3 minutes", reason="missing", healed="8 hours", every="1 day"
)
HALTS = GAPS.format(
    opens="13 hours",
    closes="13 hours 40 minutes",
    reason="halt",
    healed="14 hours",
    every="30 days",
)
# What accumulates beside the candles over the history: the gaps heal-gaps recorded and healed
# (one per symbol and day), halts (one per symbol and 30 days) and the weekly reconciled windows;
# one statement per paragraph.
HISTORY_BESIDE = f"""
insert into market.symbols (symbol, status)
select distinct symbol, 'TRADING' from market.klines_1m;
{MISSING}{HALTS}
insert into market.reconciliations (
    symbol, window_start, window_end, minutes_official, minutes_mismatched, minutes_repaired,
    minutes_unrepaired
)
select listed.symbol, week, week + interval '7 days', 10080, 0, 0, 0
from market.symbols as listed
cross join generate_series(
    %(start)s::timestamptz, %(end)s::timestamptz - interval '7 days', interval '7 days'
) as week
"""

# The newest days also arrived live (closed candles), so reconciliation has work to do.
LIVE_SINCE = """
insert into market.candles_1m_live
select
    symbol, open_time, open, high, low, close, volume, quote_volume, trade_count,
    taker_buy_volume, taker_buy_quote_volume, true, null, null, open_time + interval '61 seconds'
from market.klines_1m
where open_time >= %(since)s
"""


def spread(runs: list[float]) -> str:
    return f"median {statistics.median(runs):.2f} s (rounds {min(runs):.2f}-{max(runs):.2f})"


def wide_days(symbols: int) -> int:
    """How many days of `symbols` symbols hold as many candles as ALL_SYMBOLS' 24 hours."""
    return min(math.ceil(ALL_SYMBOLS / symbols), 364)


def make_months(conn: psycopg.Connection, start: datetime, live_since: datetime) -> None:
    """The months from start to NOW get their partitions before the history is generated, as in
    a running platform (migrate and the loaders create them ahead): rows left in the DEFAULT
    partition would be moved out, a scan of all of them, by the next maintenance or load.

    The live table gets its days from `live_since` (its first row) on: the platform makes them
    a few days ahead of the streamer and drops them after LIVE_RETENTION_DAYS (7 by default),
    so it never holds a live day from before the streamer ran, nor a year of them (a year of
    empty days here was planned by every live look-up, which production never does)."""
    for table in MARKET_TABLES:
        since = live_since if table == LIVE else start
        ensure_range(conn, table, since, NOW + timedelta(days=1))


def quality_history(server_url: str, name: str, symbols: int, days: int, live_days: int) -> str:
    """A database `name` with `days` of history for `symbols` symbols up to NOW, the last
    `live_days` of it also live, and the timeframes built."""
    url = fresh_database(server_url, name)
    start = NOW - timedelta(days=days)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        live_since = NOW - timedelta(days=min(days, live_days))
        make_months(conn, start, live_since)
        conn.execute(GENERATE, {"symbols": symbols, "start": start, "end": NOW})
        conn.execute(LIVE_SINCE, {"since": live_since})
        for statement in HISTORY_BESIDE.split(";\n\n"):
            conn.execute(statement, {"start": start, "end": NOW})
        conn.execute("vacuum analyze")
    made = time.perf_counter() - started
    started = time.perf_counter()
    build_timeframes(url, full_refresh=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    built = time.perf_counter() - started
    print(
        f"  {symbols} symbols x {days} days: generated in {made:.0f} s, dbt built in {built:.0f} s"
    )
    return url


def quality_run(url: str, window: Window, gx_root: Path) -> float:
    """Seconds of one run_checks over the window (the bench's data must pass every check)."""
    started = time.perf_counter()
    report = run_checks(url, window, symbols=None, expect_live=False, gx_root=gx_root)
    seconds = time.perf_counter() - started
    if not report.success:
        raise SystemExit(f"the bench data should pass every check:\n{report.summary()}")
    return seconds


def quality_sql(url: str, window: Window) -> float:
    """Seconds of the run's database work alone: each check's SQL once, as the run sends it
    (its first rows and their count), and the runner's own counts, without GX around them."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # Checks sharing a pass over their table (Check.shared) send one query, run once.
        queries = {
            render(check, conn, window, None).replace(
                "{batch}", f"(SELECT * FROM {check.table} WHERE true)"
            ): None
            for check in all_checks(expect_live=False)
        }
        for query in queries:
            conn.execute(
                f"select unexpected.*, count(*) over () from ({query}) as unexpected limit 200"
            ).fetchall()
    window_counts(url, CANDLE_TABLES, window)
    return time.perf_counter() - started


def seed_runs(gx_root: Path, runs: int) -> None:
    """Store `runs` earlier runs' validation results in the GX project, as a day of the 5-minute
    DAG leaves them (copies of its newest run's, each under an older run time)."""
    results = gx_root / "uncommitted" / "validations"
    for run_name in results.glob("*/*"):
        newest = max(run_name.iterdir())
        for i in range(runs):
            stamp = datetime(2000, 1, 1) + timedelta(minutes=5 * i)
            shutil.copytree(newest, run_name / stamp.strftime("%Y%m%dT%H%M%S.%fZ"))


def quality(args: argparse.Namespace) -> None:
    """Data-quality seconds per scheduled (24-hour) run, 30 vs 365 days, and at 2,000 symbols."""
    server_url = db.resolve_database_url()
    window = Window(NOW - QUALITY_WINDOW, NOW)
    lengths = (30, 365)
    with tempfile.TemporaryDirectory() as tmp:
        urls = {
            days: quality_history(
                server_url, f"{QUALITY_DB}_{days}", args.symbols, days, wide_days(args.symbols)
            )
            for days in lengths
        }
        # A GX project per history: runs stored by one case do not weigh on the other.
        gx_roots = {days: Path(tmp) / str(days) / "gx" for days in lengths}
        warmup = {days: quality_run(urls[days], window, gx_roots[days]) for days in lengths}
        # The rounds take the two histories in turn, so a load that comes and goes on the
        # (shared) machine weighs on both alike.
        runs: dict[int, list[float]] = {days: [] for days in lengths}
        alone: dict[int, list[float]] = {days: [] for days in lengths}
        for _ in range(args.rounds):
            for days in lengths:
                runs[days].append(quality_run(urls[days], window, gx_roots[days]))
                alone[days].append(quality_sql(urls[days], window))
        for days in lengths:
            print(
                f"data quality, {args.symbols} symbols x {days} days, 24-hour window: "
                f"{spread(runs[days])}, warm-up run {warmup[days]:.2f} s; "
                f"its SQL alone {spread(alone[days])}"
            )
        ratio = statistics.median(runs[365]) / statistics.median(runs[30])
        sql_ratio = statistics.median(alone[365]) / statistics.median(alone[30])
        print(
            f"data quality run 365 / 30 days: {ratio:.2f}; its SQL alone: {sql_ratio:.2f} "
            f"(target: both <= 1.2)"
        )
        # The history of runs is history too: the same run after a day of the 5-minute DAG.
        url, gx_root = urls[365], gx_roots[365]
        seed_runs(gx_root, DAY_OF_RUNS)
        stored = [quality_run(url, window, gx_root) for _ in range(args.rounds)]
        print(
            f"data quality, {args.symbols} symbols x 365 days, after {DAY_OF_RUNS} earlier runs "
            f"stored: {spread(stored)}"
        )
        # 2,000 symbols' 24 hours hold as many candles as `symbols` symbols' N days: a run over
        # that window of the year reads the same rows (only the per-symbol lookups, a few index
        # probes each, are fewer).
        days = wide_days(args.symbols)
        seconds = quality_run(url, Window(NOW - days * QUALITY_WINDOW, NOW), gx_root)
        print(
            f"data quality at {min(ALL_SYMBOLS, args.symbols * days)} symbols: "
            f"{seconds:.0f} s per run, measured over as "
            f"many candles ({args.symbols} symbols x {days} days, as {args.symbols * days} "
            f"symbols' 24 hours; target < 20 s)"
        )
        if args.wide:
            url = quality_history(server_url, f"{QUALITY_DB}_wide", args.wide, args.wide_days, 1)
            gx_root = Path(tmp) / "wide" / "gx"
            first = quality_run(url, window, gx_root)
            wide = [quality_run(url, window, gx_root) for _ in range(args.rounds)]
            print(
                f"data quality, {args.wide} symbols x {args.wide_days} days, 24-hour window: "
                f"{spread(wide)}, warm-up run {first:.2f} s (target < 300 s)"
            )
