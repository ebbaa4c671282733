"""Bench: REST backfill of 30 days x 5 symbols from the fake exchange with Binance's limits.

Run: `PYTHONPATH=. .venv/bin/python bench/backfill_bench.py` (uses DATABASE_URL or the embedded
PostgreSQL; `--market usdm` (`coinm`) backfills USDⓈ-M (COIN-M) futures at their own limit,
2,400 a minute, one pool for both);
`--days 365 --symbols 1 --weight-limit 300` is a year of one symbol at a twentieth
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

The weight's own bound: with the first window's limit spent at once and `limit` per window
after it, W weight cannot take less than (W - limit) / (limit / window) seconds. It is printed
for the weight the job spent and for the klines' weight alone (the floor of any client), with
the job's time over it (target <= 1.10x: the budget-bound part of a year of ALL, ~6 h at
Binance's limit, is then within 10% of what the weight allows). `--parallel 2` runs the jobs
as binance_backfill_rest does, two mapped tasks at once in processes of their own; the scaled
year of issue 21: `--days 365 --symbols 10 --weight-limit 600 --weight-window 6 --parallel 2`
(Binance's average rate of 100 weight/s, a tenth of its burst).

The fake's per symbol-day kline caches are filled before the clock starts: Binance serves
history from storage, and the bench measures the client, not the fake's trade generator.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

import psycopg

from bench.results import command_line, record
from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, make_symbols, utc
from fakebinance.futures import SEED_OFFSET, synthetic_coin_contracts
from fakebinance.server import FakeBinance
from include import jobs
from include.history.results import BackfillResult
from include.jobs import DEFAULT_CHUNK_DAYS
from include.platform import db, markets, migrate
from include.platform.times import to_ms

logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--symbols", type=int, default=5)
    parser.add_argument(
        "--market",
        choices=("spot", "usdm", "coinm"),
        default="spot",
        help="usdm: a USDⓈ-M backfill (/fapi/v1, 499-kline pages of weight 2, the futures' "
        "own 2,400-a-minute pool unless --weight-limit) into market_usdm; coinm: COIN-M's "
        "(/dapi/v1, the same pool, windows of at most 200 days) into market_coinm",
    )
    parser.add_argument("--weight-limit", type=int, default=None)
    parser.add_argument("--weight-window", type=float, default=60)
    parser.add_argument("--chunk-days", type=int, default=DEFAULT_CHUNK_DAYS)
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="jobs at once, each in its own process as Airflow runs tasks "
        "(2: binance_backfill_rest's max_active_tis_per_dag)",
    )
    args = parser.parse_args()
    futures = args.market != "spot"
    if args.weight_limit is None:
        args.weight_limit = 2400 if futures else 6000
    if futures and args.weight_window != 60:
        parser.error(f"--market {args.market}: the fake's futures pool counts per 60 s windows")
    venue = markets.market(args.market)
    now = utc(2025, 3, 1, 0, 0, 30)
    end = now.replace(second=0)
    start = end - timedelta(days=args.days)
    symbols = (
        synthetic_coin_contracts(args.symbols, trades_per_minute=30)
        if args.market == "coinm"
        else make_symbols(args.symbols, trades_per_minute=30, listed_at=utc(2024, 1, 1))
    )
    names = [s.symbol for s in symbols]
    url = db.resolve_database_url()
    migrate.migrate(url)
    fake = FakeBinance.run_in_thread(
        MarketConfig(11, symbols),
        clock=MarketClock(now, speed=0),
        weight_limit=6000 if futures else args.weight_limit,
        weight_window=60 if futures else args.weight_window,
        usdm_config=MarketConfig(11 + SEED_OFFSET, symbols) if args.market == "usdm" else None,
        coinm_config=(
            MarketConfig(11 + 2 * SEED_OFFSET, symbols) if args.market == "coinm" else None
        ),
        usdm_weight_limit=args.weight_limit,
    )
    api = {"spot": fake.fake, "usdm": fake.fake.usdm, "coinm": fake.fake.coinm}[args.market]
    try:
        warm = time.perf_counter()
        served = api.market
        served.day_rows_entries = len(names) * (args.days + 2)
        for name in names:
            served.klines_1m_json(name, to_ms(start), to_ms(end) - 1, 10**7)
        print(f"fake exchange warmed in {time.perf_counter() - warm:.1f} s (not timed)")
        table = venue.table("klines_1m")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"delete from {table} where symbol = any(%s)", (names,))
            # A previous run's dead rows would slow the unique-key checks of this one.
            conn.execute(f"vacuum (analyze) {table}")
        # The production path: the CLI's (and the DAG's) chunks, each job with the client it
        # builds itself, its weight reserved in the budget shared through the database.
        os.environ.update(
            DATABASE_URL=url,
            BINANCE_REST_URL=fake.url,
            BINANCE_USDM_REST_URL=fake.url,
            BINANCE_COINM_REST_URL=fake.url,
        )
        started = time.perf_counter()
        result = BackfillResult()
        plan = jobs.plan_rest_chunks(
            names,
            start.isoformat(),
            end.isoformat(),
            chunk_days=args.chunk_days,
            markets=args.market,
            series=["klines"],
        )
        for done in _run(plan, args.parallel):
            result.requests += done["requests"]
            result.weight += done["weight"]
            result.throttled_429 += done["throttled_429"]
            for name, fetched in done["fetched"].items():
                result.fetched[name] = result.fetched.get(name, 0) + fetched
        seconds = time.perf_counter() - started
        limiter = api.limiter
        windows = sorted(limiter.weight_by_window.items())
    finally:
        fake.stop()
    rows = sum(result.fetched.values())
    print(
        f"{rows:,} klines in {len(plan)} jobs of {args.chunk_days} days, {result.requests} "
        f"requests, weight {result.weight}, {seconds:.2f} s"
    )
    print(f"429 responses: {limiter.count_429}  418 responses: {limiter.count_418}")
    _print_bound(result.weight, rows, len(names), seconds, args, venue)
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
    figures = {
        f"{args.days} days x {args.symbols} symbols": f"{rows:,} klines, {result.requests} "
        f"requests, weight {result.weight} in {seconds:.2f} s, {limiter.count_429} x 429, "
        f"{limiter.count_418} x 418",
        "rate share": f"{result.weight / allowed:.1%} of the average allowed rate",
    }
    if full:
        figures["full windows"] = f"mean {mean:.1%} of the limit used (target > 85%)"
    name = "backfill_bench-parallel" if args.parallel > 1 else "backfill_bench"
    if futures:
        name += f"-{args.market}"
    record(name, command_line(), figures, rounds=1)


def _run(plan: list[dict], parallel: int) -> Iterator[dict]:
    """Each job's result: in turn (as the CLI runs them), or ``parallel`` at once in processes
    of their own (as Airflow's mapped tasks), sharing the weight budget through the database."""
    if parallel <= 1:
        yield from map(jobs.run_rest_chunk, plan)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(parallel, mp_context=ctx) as pool:
        yield from pool.map(jobs.run_rest_chunk, plan)


def _print_bound(
    weight: int, rows: int, symbols: int, seconds: float, args, venue: markets.Market
) -> None:
    """The time the weight alone allows: the first window's limit at once, then limit per window.

    Two bounds: on the weight the job spent (klines and each job's exchangeInfo), and on the
    klines' weight alone, the floor any client has (spot: 2 weight per 1,000 minutes; USDⓈ-M:
    2 per 499, its cheapest weight per kline)."""
    rate = args.weight_limit / args.weight_window
    per_symbol = -(-rows // max(symbols, 1)) if rows else 0
    page = venue.klines_page
    per_page = venue.weight(venue.path("klines"), {"limit": page})
    klines_weight = symbols * -(-per_symbol // page) * per_page
    for label, w in (("weight spent", weight), ("klines' weight alone", klines_weight)):
        bound = max(w - args.weight_limit, 0) / rate
        ratio = f"{seconds / bound:.3f}x" if bound else "n/a (within the first window)"
        print(
            f"bound on the {label} ({w:,}): {bound:,.1f} s; the job took {seconds:,.1f} s = "
            f"{ratio} (target <= 1.10x)"
        )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
