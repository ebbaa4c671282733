"""Bench: REST backfill of 30 days x 5 symbols from the fake exchange with Binance's limits.

Run: `.venv/bin/python bench/backfill_bench.py` (uses DATABASE_URL or the embedded
PostgreSQL). Prints the share of the weight budget used and the 429 count (targets: > 85%, 0).

The share is the weight spent per window over the windows in which the client was limited by
the budget (it waited for the next window); when the job never had to wait, the budget was not
the bottleneck, and the share of one window is printed beside the achieved weight rate.
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
from include import db, migrate
from include.backfill import backfill_rest
from include.binance_rest import BinanceRest

logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--symbols", type=int, default=5)
    parser.add_argument("--weight-limit", type=int, default=6000)
    parser.add_argument("--weight-window", type=float, default=60)
    args = parser.parse_args()
    now = utc(2025, 3, 1, 0, 0, 30)
    symbols = make_symbols(args.symbols, trades_per_minute=30, listed_at=utc(2024, 1, 1))
    url = db.resolve_database_url()
    migrate.migrate(url)
    fake = FakeBinance.run_in_thread(
        MarketConfig(11, symbols),
        clock=MarketClock(now, speed=0),
        weight_limit=args.weight_limit,
        weight_window=args.weight_window,
    )
    try:
        names = [s.symbol for s in symbols]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from market.klines_1m where symbol = any(%s)", (names,))
        end = now.replace(second=0)
        start = end - timedelta(days=args.days)
        client = BinanceRest(fake.url)
        started = time.perf_counter()
        result = backfill_rest(names, start, end, database_url=url, client=client)
        seconds = time.perf_counter() - started
        limiter = fake.fake.limiter
        windows = sorted(limiter.weight_by_window.items())
    finally:
        fake.stop()
    rows = sum(result.fetched.values())
    print(f"{rows:,} klines, {result.requests} requests, weight {result.weight}, {seconds:.1f} s")
    print(f"429 responses: {limiter.count_429}  418 responses: {limiter.count_418}")
    waited = client.budget.slept_s
    full = windows[:-1] if waited > 0 else []
    if full:
        share = sum(w for _, w in full) / (len(full) * args.weight_limit)
        print(f"budget used in the {len(full)} budget-bound windows: {share:.1%} (target > 85%)")
    else:
        rate = result.weight / seconds * args.weight_window
        print(
            f"the budget never bound: {result.weight} weight = "
            f"{result.weight / args.weight_limit:.1%} of one window; achieved rate "
            f"{rate:,.0f} weight/window = {rate / args.weight_limit:.0%} of the allowed rate"
        )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
