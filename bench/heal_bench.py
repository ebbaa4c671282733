"""Bench: seconds per scheduled heal-gaps run, over 30 vs 365 days of history, and at 2,000 symbols.

Run: `PYTHONPATH=. .venv/bin/python bench/heal_bench.py [--symbols 20] [--wide 2000]`. It uses a
database `heal_bench` on the DATABASE_URL server (or the embedded PostgreSQL), recreated for each
history length, and the fake exchange (frozen clock) for REST. Each case: the history is
generated inside PostgreSQL, a first run checks it whole (and sets the watermarks), then three
scheduled runs follow, each after 15 more market minutes arrived with a two-minute hole in every
fifth symbol, as the streamer leaves them. Prints the scheduled runs' median and spread, the ratio
365 / 30 days (target within 1.2) and the run at `--wide` symbols (target under 5 minutes).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg

from bench.databases import fresh_database
from bench.quality_bench import GENERATE
from bench.results import command_line, record
from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, make_symbols
from fakebinance.server import FakeBinance
from include.history.heal import heal_gaps
from include.platform import db

BENCH_DB = "heal_bench"
NOW = datetime(2025, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
ROUNDS = 3


def arrive(conn: psycopg.Connection, symbols: int, start: datetime, end: datetime) -> None:
    """Minutes [start, end) of every symbol, with [start + 5m, start + 7m) missing in every
    fifth one (what heal-gaps must then fetch)."""
    conn.execute(GENERATE, {"symbols": symbols, "start": start, "end": end})
    conn.execute(
        "delete from market.klines_1m where open_time >= %s and open_time < %s "
        "and substr(symbol, 4, 4)::int %% 5 = 0",
        (start + timedelta(minutes=5), start + timedelta(minutes=7)),
    )


def run_case(server_url: str, fake: FakeBinance, clock: MarketClock, symbols: int, days: int):
    """(first run s, [scheduled run s], minutes filled per scheduled run)."""
    url = fresh_database(server_url, BENCH_DB)
    names = [f"SYM{i:04d}USDT" for i in range(1, symbols + 1)]
    now = NOW
    clock.set(now)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(
            GENERATE, {"symbols": symbols, "start": now - timedelta(days=days), "end": now}
        )
        conn.execute("vacuum analyze market.klines_1m")
        made = time.perf_counter() - started
        print(f"  {symbols} symbols x {days} days generated in {made:.0f} s")
        started = time.perf_counter()
        heal_gaps(names, database_url=url, rest_url=fake.url, lag_minutes=0)
        first = time.perf_counter() - started
        runs, filled = [], []
        for _ in range(ROUNDS):
            arrive(conn, symbols, now, now + STEP)
            now += STEP
            clock.set(now)
            started = time.perf_counter()
            result = heal_gaps(names, database_url=url, rest_url=fake.url, lag_minutes=0)
            runs.append(time.perf_counter() - started)
            filled.append(result.total_filled)
    return first, runs, filled


def spread(runs: list[float]) -> str:
    return f"median {statistics.median(runs):.2f} s (rounds {min(runs):.2f}-{max(runs):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--wide", type=int, default=2000)
    parser.add_argument("--wide-days", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    server_url = db.resolve_database_url()
    clock = MarketClock(NOW, speed=0)
    specs = make_symbols(max(args.symbols, args.wide), listed_at=datetime(2023, 1, 1, tzinfo=UTC))
    fake = FakeBinance.run_in_thread(MarketConfig(3, specs), clock=clock)
    try:
        medians = {}
        for days in (30, 365):
            first, runs, filled = run_case(server_url, fake, clock, args.symbols, days)
            medians[days] = statistics.median(runs)
            print(
                f"heal-gaps, {args.symbols} symbols x {days} days: first run {first:.1f} s, "
                f"scheduled runs {spread(runs)}, {filled[0]} minutes filled each"
            )
        print(f"scheduled run 365 / 30 days: {medians[365] / medians[30]:.2f} (target <= 1.2)")
        figures = {
            f"heal-gaps per scheduled run, {args.symbols} symbols": f"{medians[30]:.2f} s at 30 "
            f"days, {medians[365]:.2f} s at 365 days: ratio {medians[365] / medians[30]:.2f} "
            "(target within 1.2)"
        }
        first, runs, filled = run_case(server_url, fake, clock, args.wide, args.wide_days)
        print(
            f"heal-gaps, {args.wide} symbols x {args.wide_days} days: first run {first:.1f} s, "
            f"scheduled runs {spread(runs)}, {filled[0]} minutes filled each (target < 300 s)"
        )
        if args.wide:
            figures[f"{args.wide} symbols"] = (
                f"{statistics.median(runs):.1f} s per run ({min(runs):.1f}-{max(runs):.1f}), "
                f"{filled[0]} minutes filled from REST (target under 5 minutes)"
            )
        record("heal_bench", command_line(), figures)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
