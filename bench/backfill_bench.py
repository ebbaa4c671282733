"""Bench: REST backfill of 30 days x 5 symbols from the fake exchange with Binance's limits.

Run: `PYTHONPATH=. .venv/bin/python bench/backfill_bench.py` (uses DATABASE_URL or the embedded
PostgreSQL); `--days 365 --symbols 1 --weight-limit 300` is a year of one symbol at a twentieth
of Binance's limit. The job runs as users run it: the CLI's (and the DAG's) chunks through
include.jobs, each building its own client with the weight budget shared through the database,
as history_loader. Prints the seconds, the share of each full window's weight used and the
429/418 counts (targets: over 85%, 0, 0), from the fake exchange's own counters.

The budget is `limit` weight per fixed `window` (6000 per 60 s; klines weight 2), so the
allowed rate is limit / window (100 weight/s). Two shares are printed:

- rate share = weight spent / (limit x elapsed / window): the weight the job spent over the
  weight the budget allowed during the job. 30 days x 5 symbols need only ~460 weight, less
  than one window's budget, so this rate is the meaningful reading there: a job limited by the
  budget rather than by latency runs at ~100 weight/s and finishes in ~4.6 s.
- per full window = weight the server counted in a window / limit, for every window the job
  spanned from start to end (its first and last, partial, windows left out). Printed when a run
  spans at least three windows (e.g. `--days 400`); a job bound by the budget fills each.

The fake's per symbol-day kline caches are filled before the clock starts: Binance serves
history from storage, and the bench measures the client, not the fake's trade generator.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import timedelta

import psycopg

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, make_symbols, utc
from fakebinance.server import FakeBinance
from include import jobs
from include.history.backfill import BackfillResult
from include.history.klines_store import datetime_to_ms
from include.jobs import DEFAULT_CHUNK_DAYS
from include.platform import db, migrate

logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--symbols", type=int, default=5)
    parser.add_argument("--weight-limit", type=int, default=6000)
    parser.add_argument("--weight-window", type=float, default=60)
    parser.add_argument("--chunk-days", type=int, default=DEFAULT_CHUNK_DAYS)
    args = parser.parse_args()
    now = utc(2025, 3, 1, 0, 0, 30)
    end = now.replace(second=0)
    start = end - timedelta(days=args.days)
    symbols = make_symbols(args.symbols, trades_per_minute=30, listed_at=utc(2024, 1, 1))
    names = [s.symbol for s in symbols]
    url = db.resolve_database_url()
    migrate.migrate(url)
    fake = FakeBinance.run_in_thread(
        MarketConfig(11, symbols),
        clock=MarketClock(now, speed=0),
        weight_limit=args.weight_limit,
        weight_window=args.weight_window,
    )
    try:
        warm = time.perf_counter()
        fake.fake.market.day_rows_entries = len(names) * (args.days + 2)
        for name in names:
            fake.fake.market.klines_1m_json(
                name, datetime_to_ms(start), datetime_to_ms(end) - 1, 10**7
            )
        print(f"fake exchange warmed in {time.perf_counter() - warm:.1f} s (not timed)")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from market.klines_1m where symbol = any(%s)", (names,))
            # A previous run's dead rows would slow the unique-key checks of this one.
            conn.execute("vacuum (analyze) market.klines_1m")
        # The production path: the CLI's (and the DAG's) chunks, each job with the client it
        # builds itself, its weight reserved in the budget shared through the database.
        os.environ.update(DATABASE_URL=url, BINANCE_REST_URL=fake.url)
        started = time.perf_counter()
        result = BackfillResult()
        plan = jobs.plan_rest_chunks(
            names, start.isoformat(), end.isoformat(), chunk_days=args.chunk_days
        )
        for job in plan:
            done = jobs.run_rest_chunk(job)
            result.requests += done["requests"]
            result.weight += done["weight"]
            result.throttled_429 += done["throttled_429"]
            for name, fetched in done["fetched"].items():
                result.fetched[name] = result.fetched.get(name, 0) + fetched
        seconds = time.perf_counter() - started
        limiter = fake.fake.limiter
        windows = sorted(limiter.weight_by_window.items())
    finally:
        fake.stop()
    rows = sum(result.fetched.values())
    print(
        f"{rows:,} klines in {len(plan)} jobs of {args.chunk_days} days, {result.requests} "
        f"requests, weight {result.weight}, {seconds:.2f} s"
    )
    print(f"429 responses: {limiter.count_429}  418 responses: {limiter.count_418}")
    allowed = args.weight_limit * seconds / args.weight_window
    print(
        f"rate share: {result.weight} weight / ({args.weight_limit} x {seconds:.2f} s / "
        f"{args.weight_window:g} s = {allowed:,.0f} allowed) = {result.weight / allowed:.1%} "
        f"(target > 85%): {result.weight / seconds:,.1f} weight/s against "
        f"{args.weight_limit / args.weight_window:,.1f} allowed on average"
    )
    if result.weight <= args.weight_limit:
        print(
            f"  the whole job needs {result.weight} weight, within one window's "
            f"{args.weight_limit}, which may be spent at any pace: over 100% means the client "
            "outran the average rate and a longer job is bound by the budget"
        )
    print("weight per window, first and last partial: " + ", ".join(str(w) for _, w in windows))
    full = windows[1:-1]
    if full:
        shares = ", ".join(f"{w / args.weight_limit:.0%}" for _, w in full)
        mean = sum(w for _, w in full) / (len(full) * args.weight_limit)
        print(f"per full window: {shares}; mean {mean:.1%} (target > 85%)")
    else:
        print(f"per full window: none (the job spanned {len(windows)} window(s))")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
