"""Bench: REST backfill of 30 days x 5 symbols from the fake exchange with Binance's limits.

Run: `PYTHONPATH=. .venv/bin/python bench/backfill_bench.py` (uses DATABASE_URL or the embedded
PostgreSQL). Prints the share of the weight budget used and the 429/418 counts (targets: over
85%, 0, 0), from the fake exchange's own counters.

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
import time
from datetime import timedelta

import psycopg

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, make_symbols, utc
from fakebinance.server import FakeBinance
from include.history.backfill import DEFAULT_CONCURRENCY, backfill_rest
from include.history.klines_store import datetime_to_ms
from include.platform import db, migrate
from include.platform.binance_rest import BinanceRest

logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--symbols", type=int, default=5)
    parser.add_argument("--weight-limit", type=int, default=6000)
    parser.add_argument("--weight-window", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
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
        client = BinanceRest(fake.url)
        started = time.perf_counter()
        result = backfill_rest(
            names, start, end, database_url=url, client=client, concurrency=args.concurrency
        )
        seconds = time.perf_counter() - started
        limiter = fake.fake.limiter
        windows = sorted(limiter.weight_by_window.items())
    finally:
        fake.stop()
    rows = sum(result.fetched.values())
    print(
        f"{rows:,} klines, {result.requests} requests, weight {result.weight}, {seconds:.2f} s, "
        f"{args.concurrency} in flight"
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
    full = windows[1:-1]
    if full:
        shares = ", ".join(f"{w / args.weight_limit:.0%}" for _, w in full)
        mean = sum(w for _, w in full) / (len(full) * args.weight_limit)
        print(f"per full window: {shares}; mean {mean:.1%} (target > 85%)")
    else:
        print(f"per full window: none (the job spanned {len(windows)} window(s))")
    print(f"client waits for budget: {client.budget.waits}, {client.budget.slept_s:.1f} s")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
