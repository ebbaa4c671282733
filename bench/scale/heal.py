"""The heal section: heal-gaps per scheduled run at ALL, and the REST weight of a year."""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

import psycopg

from bench.databases import fresh_database
from bench.heal_bench import arrive
from bench.quality_bench import GENERATE
from bench.scale.common import ALL_SYMBOLS, NOW
from bench.scale.quality import HISTORY_BESIDE, LIVE_SINCE, make_months, spread
from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, make_symbols
from fakebinance.server import FakeBinance
from include.history.heal import (
    heal_gaps,
    leading_span,
    recorded_gaps,
    series_holes,
    settled_spans,
    watermark,
)
from include.history.klines_store import load_sql
from include.jobs import plan_rest_chunks
from include.platform import db
from include.platform.binance_rest.weights import KLINES_LIMIT, RESERVE_SHARE, WEIGHTS
from include.platform.rest_pool import DOCUMENTED_LIMIT, pool_size, task_slots
from include.platform.times import parse_utc

HEAL_DB = "scale_bench_heal"
HEAL_STEP = timedelta(minutes=15)  # the binance_heal_gaps DAG's schedule


def heal_history(server_url: str, symbols: int, days: int) -> str:
    """A database with the quality section's history (`days` x `symbols` up to NOW, the newest
    day also live, the gaps, halts and reconciliations beside it), without the timeframes."""
    url = fresh_database(server_url, f"{HEAL_DB}_{days}")
    start = NOW - timedelta(days=days)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        make_months(conn, start, NOW - timedelta(days=1))
        conn.execute(GENERATE, {"symbols": symbols, "start": start, "end": NOW})
        conn.execute(LIVE_SINCE, {"since": NOW - timedelta(days=1)})
        for statement in HISTORY_BESIDE.split(";\n\n"):
            conn.execute(statement, {"start": start, "end": NOW})
        conn.execute("vacuum analyze")
    print(f"  {symbols} symbols x {days} days generated in {time.perf_counter() - started:.0f} s")
    return url


def heal_runs(
    url: str, rest_url: str, clock: MarketClock, symbols: int, rounds: int
) -> tuple[float, list[float], list[int]]:
    """(the first run's seconds, each scheduled run's seconds, minutes each one filled)."""
    names = [f"SYM{i:04d}USDT" for i in range(1, symbols + 1)]
    now = NOW
    clock.set(now)
    started = time.perf_counter()
    heal_gaps(names, database_url=url, rest_url=rest_url, lag_minutes=0)
    first = time.perf_counter() - started
    runs, filled = [], []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(rounds):
            arrive(conn, symbols, now, now + HEAL_STEP)
            now += HEAL_STEP
            clock.set(now)
            started = time.perf_counter()
            result = heal_gaps(names, database_url=url, rest_url=rest_url, lag_minutes=0)
            runs.append(time.perf_counter() - started)
            filled.append(result.total_filled)
    # Each scheduled run must have fetched its holes: 2 minutes in every fifth symbol.
    if filled != [2 * (symbols // 5)] * rounds:
        raise SystemExit(f"heal-gaps should fill 2 minutes in every fifth symbol, got {filled}")
    return first, runs, filled


def heal_sql(url: str, symbols: int) -> float:
    """Seconds of a scheduled run's database reads alone, without REST or writes: the run's
    own queries, then per symbol what heal_symbol asks before fetching (its watermark, the
    settled spans, the holes since the watermark, the recorded gaps, a listing's lead)."""
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("select distinct symbol from market.ingest_gaps where healed_at is null")
        conn.execute(load_sql("select_delisted_tails")).fetchall()
        for i in range(1, symbols + 1):
            symbol = f"SYM{i:04d}USDT"
            since = watermark(conn, symbol)
            horizon = (since or 0) + int(HEAL_STEP.total_seconds() * 1000)
            settled_spans(conn, symbol, None if since is None else since - 120_000)
            series_holes(conn, symbol, horizon, since)
            recorded_gaps(conn, symbol)
            leading_span(conn, symbol, horizon)
        return time.perf_counter() - started


def backfill_weight() -> None:
    """The REST weight of backfilling ALL for one year, and how long the IP's limit makes it."""
    minutes = 365 * 1440
    # The plan binance_backfill_rest maps: each job's symbols page through its chunk.
    plan = plan_rest_chunks(
        [f"S{i:04d}USDT" for i in range(ALL_SYMBOLS)], "2025-01-01", "2026-01-01"
    )
    requests = 0
    for job in plan:
        chunk = (parse_utc(job["end"]) - parse_utc(job["start"])) // timedelta(minutes=1)
        requests += len(job["symbols"]) * -(-chunk // KLINES_LIMIT)
    floor = ALL_SYMBOLS * -(-minutes // KLINES_LIMIT)
    weight = requests * WEIGHTS["/api/v3/klines"]
    # Each mapped task opens with exchangeInfo (an upper bound: a process reads it once).
    weight += len(plan) * WEIGHTS["/api/v3/exchangeInfo"]
    usable = DOCUMENTED_LIMIT - int(DOCUMENTED_LIMIT * RESERVE_SHARE)
    print(
        f"backfill of ALL x 1 year: {ALL_SYMBOLS} symbols x {minutes} minutes in {len(plan)} "
        f"planned jobs = {requests:,} klines requests ({floor:,} at the least) x weight "
        f"{WEIGHTS['/api/v3/klines']}, + {len(plan)} tasks' exchangeInfo = {weight:,} weight; "
        f"at {usable} a minute "
        f"(the IP's {DOCUMENTED_LIMIT} less the {RESERVE_SHARE:.0%} reserve): "
        f"{weight / usable / 60:.2f} hours, with {pool_size() // task_slots(8)} tasks at once "
        f"in the binance_rest pool and every process's weight in the one shared budget"
    )


def heal(args: argparse.Namespace) -> None:
    """heal-gaps seconds per scheduled run, 30 vs 365 days, and at 2,000 symbols."""
    backfill_weight()
    server_url = db.resolve_database_url()
    clock = MarketClock(NOW, speed=0)
    widest = max(args.symbols, args.heal_wide)
    listed = NOW - timedelta(days=400)
    fake = FakeBinance.run_in_thread(
        MarketConfig(3, make_symbols(widest, listed_at=listed)), clock=clock
    )
    try:
        medians: dict[int, float] = {}
        sql_medians: dict[int, float] = {}
        urls: dict[int, str] = {}
        for days in (30, 365):
            urls[days] = url = heal_history(server_url, args.symbols, days)
            first, runs, filled = heal_runs(url, fake.url, clock, args.symbols, args.rounds)
            medians[days] = statistics.median(runs)
            print(
                f"heal-gaps, {args.symbols} symbols x {days} days: first run {first:.1f} s, "
                f"scheduled runs {spread(runs)}, {filled[0]} minutes fetched from REST each"
            )
        # The reads alone, the two histories in turn, so a load that comes and goes on the
        # machine weighs on both alike.
        alone: dict[int, list[float]] = {30: [], 365: []}
        for _ in range(max(args.rounds, 7)):
            for days in (30, 365):
                alone[days].append(heal_sql(urls[days], args.symbols))
        for days in (30, 365):
            sql_medians[days] = statistics.median(alone[days])
            print(
                f"heal-gaps, {args.symbols} symbols x {days} days: the run's reads alone "
                f"{spread(alone[days])}"
            )
        ratio = medians[365] / medians[30]
        sql_ratio = sql_medians[365] / sql_medians[30]
        print(
            f"heal-gaps scheduled run 365 / 30 days: {ratio:.2f} (target <= 1.2); "
            f"its reads alone: {sql_ratio:.2f}"
        )
        if args.heal_wide:
            url = heal_history(server_url, args.heal_wide, args.heal_wide_days)
            first, runs, filled = heal_runs(url, fake.url, clock, args.heal_wide, args.rounds)
            print(
                f"heal-gaps, {args.heal_wide} symbols x {args.heal_wide_days} days: first run "
                f"{first:.1f} s, scheduled runs {spread(runs)}, {filled[0]} minutes fetched from "
                f"REST each (target < 300 s per run)"
            )
    finally:
        fake.stop()
