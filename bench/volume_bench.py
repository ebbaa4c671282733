"""Bench: the scheduled jobs and the read API on real volume, 2,000 symbols x 30 days (86 M rows).

Run: `PYTHONPATH=. .venv/bin/python bench/volume_bench.py [--symbols 2000] [--base 20]
[--days 30] [--rounds 3] [--reuse]`, with BENCH_DATABASE_URL (or DATABASE_URL) naming the
server; its databases `volume_bench_<symbols>` are recreated unless --reuse finds them made.

No extrapolation: the history is generated whole, inside PostgreSQL, into the monthly partitions
made first as the platform makes them: `--symbols` x `--days` of 1m klines (2,000 x 30 = 86.4 M
rows), the newest day also as closed live candles, a healed gap per symbol and day, a halt per
symbol and month, weekly reconciled windows (scale_bench's HISTORY_BESIDE), and the seven marts
built by dbt (--full-refresh). The baseline is the same at `--base` symbols, a database of its
own on the same server.

Then `--rounds` scheduled cycles, each 15 market minutes (the heal DAG's schedule), the two
databases in turn so a load that comes and goes weighs on both: the minutes arrive (every
symbol, a two-minute hole in every fifth: what the streamer leaves), and in the order the DAGs
run them, each timed:
  heal:     heal_gaps of every symbol, against the fake exchange's REST on a frozen clock (the
            binance_heal_gaps run), which must fill exactly the holes;
  dbt:      build_timeframes, incremental, as the build_timeframes DAG runs it (no unit tests);
  quality:  run_checks over the DAG's 24-hour window ending at the cycle's minute, which must
            pass;
  maintain: partition maintenance as migrate and every build run it (months ahead, DEFAULT
            partitions emptied: the work 0011 introduced), as the administrator.
Then the read API, `python -m api` as users run it on each database: GET /api/v3/klines at
`--limit` (1000) candles of 1m and 1h for a random symbol, `--api-rounds` x `--requests`,
each round a client of its own address under the default weight limit (api_bench's latency()).
Prints each figure at both sizes with the median and spread, and the ratio wide / base.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg

from bench.api_bench import latency, p99, start_api
from bench.databases import fresh_database
from bench.heal_bench import arrive
from bench.quality_bench import GENERATE
from bench.results import command_line, record
from bench.scale.common import NOW
from bench.scale.heal import HEAL_STEP
from bench.scale.quality import HISTORY_BESIDE, LIVE_SINCE, QUALITY_WINDOW, make_months
from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, make_symbols
from fakebinance.server import FakeBinance
from include.history.heal import heal_gaps
from include.platform import db, partitions
from include.quality import Window, run_checks
from include.timeframes import build_timeframes

# Symbols generated per statement: one statement per slice, so a long generation shows progress.
SLICE = 100
# History as it is in a running platform: loaded long before the marts were built (a day
# ago), so the first scheduled build reads what arrived since, not the whole history again.
GENERATE_SLICE = (
    GENERATE.replace(
        "generate_series(1, %(symbols)s)", "generate_series(%(first)s::int, %(last)s::int)"
    )
    .replace("taker_buy_quote_volume, source\n)", "taker_buy_quote_volume, source, loaded_at\n)")
    .replace("    'rest'\nfrom (", "    'rest',\n    now() - interval '1 day'\nfrom (")
)
if "interval '1 day'" not in GENERATE_SLICE:
    raise RuntimeError("quality_bench.GENERATE changed: GENERATE_SLICE no longer sets loaded_at")

JOBS = ("heal", "dbt", "quality", "maintain")


def database_name(symbols: int, days: int) -> str:
    return f"volume_bench_{symbols}x{days}"


def newest_minute(url: str):
    """Where the database's history ends (+1 minute): the first symbol's newest kline, by key."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select max(open_time) + interval '1 minute' from market.klines_1m "
            "where symbol = 'SYM0001USDT'"
        ).fetchone()
    return row[0] if row else None


def made(server_url: str, name: str) -> bool:
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
    if not exists:
        return False
    url = db.with_database(server_url, name)
    with psycopg.connect(url) as conn:
        built = conn.execute("select to_regclass('analytics.candles_1w')").fetchone()[0]
    return built is not None and newest_minute(url) is not None


def prepare(server_url: str, symbols: int, days: int) -> str:
    """The database: `days` of `symbols` symbols up to NOW, the newest day live, the history
    beside, the marts built by dbt."""
    url = fresh_database(server_url, database_name(symbols, days))
    start = NOW - timedelta(days=days)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        make_months(conn, start)
        for first in range(1, symbols + 1, SLICE):
            last = min(symbols, first + SLICE - 1)
            conn.execute(GENERATE_SLICE, {"first": first, "last": last, "start": start, "end": NOW})
            print(f"    symbols {first}-{last}: {time.perf_counter() - started:.0f} s", flush=True)
        conn.execute(LIVE_SINCE, {"since": NOW - timedelta(days=1)})
        for statement in HISTORY_BESIDE.split(";\n\n"):
            conn.execute(statement, {"start": start, "end": NOW})
        conn.execute("vacuum analyze")
        rows = conn.execute("select count(*) from market.klines_1m").fetchone()[0]
    generated = time.perf_counter() - started
    started = time.perf_counter()
    build_timeframes(url, full_refresh=True, unit_tests=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    print(
        f"  {symbols} symbols x {days} days: {rows:,} klines generated in {generated:.0f} s, "
        f"the marts built by dbt in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return url


def cycle(
    url: str,
    symbols: int,
    now,
    clock: MarketClock,
    rest_url: str,
    gx_root: Path,
    *,
    warm_up: bool = False,
) -> dict:
    """One scheduled cycle at `now` (15 minutes arrive first): each job's seconds. A warm-up
    cycle may fill more (holes an interrupted earlier run left); a measured one exactly those."""
    names = [f"SYM{i:04d}USDT" for i in range(1, symbols + 1)]
    seconds: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        arrive(conn, symbols, now - HEAL_STEP, now)
    clock.set(now)
    started = time.perf_counter()
    result = heal_gaps(names, database_url=url, rest_url=rest_url, lag_minutes=0)
    seconds["heal"] = time.perf_counter() - started
    if not warm_up and result.total_filled != 2 * (symbols // 5):
        raise SystemExit(f"heal-gaps should fill 2 minutes in every fifth symbol: {result}")
    started = time.perf_counter()
    build_timeframes(url, unit_tests=False)
    seconds["dbt"] = time.perf_counter() - started
    started = time.perf_counter()
    report = run_checks(
        url, Window(now - QUALITY_WINDOW, now), symbols=None, expect_live=False, gx_root=gx_root
    )
    seconds["quality"] = time.perf_counter() - started
    if not report.success:
        raise SystemExit(f"the bench data should pass every check:\n{report.summary()}")
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        partitions.maintain(conn, now=now)
    seconds["maintain"] = time.perf_counter() - started
    return seconds


def spread(values: list[float], unit: str = "s") -> str:
    return f"{statistics.median(values):.2f} {unit} ({min(values):.2f}-{max(values):.2f})"


def jobs(args: argparse.Namespace, urls: dict[int, str]) -> dict[str, str]:
    """The scheduled cycles, both sizes in turn; per job the median and spread, and the ratio
    (returned as the headline figures too)."""
    widest = max(urls)
    clock = MarketClock(NOW, speed=0)
    fake = FakeBinance.run_in_thread(
        MarketConfig(3, make_symbols(widest, listed_at=NOW - timedelta(days=400))), clock=clock
    )
    runs: dict[int, dict[str, list[float]]] = {n: {job: [] for job in JOBS} for n in urls}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            nows = {n: newest_minute(url) for n, url in urls.items()}
            # A first cycle per size: heal-gaps' first run checks the history whole (watermarks)
            # and GX builds its project; reported, not counted.
            for n, url in urls.items():
                nows[n] += HEAL_STEP
                first = cycle(
                    url, n, nows[n], clock, fake.url, Path(tmp) / str(n) / "gx", warm_up=True
                )
                print(
                    f"  {n} symbols, first cycle: "
                    + ", ".join(f"{job} {s:.1f} s" for job, s in first.items()),
                    flush=True,
                )
            for round_no in range(args.rounds):
                for n, url in urls.items():
                    nows[n] += HEAL_STEP
                    seconds = cycle(url, n, nows[n], clock, fake.url, Path(tmp) / str(n) / "gx")
                    for job, s in seconds.items():
                        runs[n][job].append(s)
                    print(
                        f"  round {round_no + 1}, {n} symbols: "
                        + ", ".join(f"{job} {s:.1f} s" for job, s in seconds.items()),
                        flush=True,
                    )
    finally:
        fake.stop()
    base = min(urls)
    print(f"scheduled cycle, {args.days} days of history, median (spread) of {args.rounds}:")
    figures = {}
    for job in JOBS:
        wide, small = runs[widest][job], runs[base][job]
        print(
            f"  {job:<9} {widest} symbols {spread(wide)} | {base} symbols {spread(small)} | "
            f"ratio {statistics.median(wide) / statistics.median(small):.1f}x for "
            f"{widest / base:.0f}x the symbols"
        )
        figures[f"{job}, median of {args.rounds} cycles"] = (
            f"{statistics.median(wide):.2f} s at {widest} symbols vs {statistics.median(small):.2f}"
            f" s at {base} ({statistics.median(wide) / statistics.median(small):.1f}x)"
        )
    return figures


def api(args: argparse.Namespace, urls: dict[int, str]) -> dict[str, str]:
    """klines p99 at --limit for 1m and 1h on each database, the API processes side by side
    (returned as the headline figures too)."""
    cases = {
        interval: ("/api/v3/klines", {"interval": interval, "limit": args.limit}, "SYM")
        for interval in ("1m", "1h")
    }
    procs, ports = {}, {}
    try:
        for i, (n, url) in enumerate(urls.items()):
            ports[n] = 18700 + i
            procs[n] = start_api(url, ports[n])
        rounds: dict[int, list[dict[str, list[float]]]] = {n: [] for n in urls}
        for round_no in range(args.api_rounds):
            for n in urls:
                rounds[n].append(latency(ports[n], n, args.requests, round_no, cases))
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)
    print(
        f"read API, GET /api/v3/klines limit={args.limit}, {args.api_rounds} rounds x "
        f"{args.requests} requests, a random symbol each:"
    )
    figures = {}
    for interval in cases:
        line = []
        pooled = {}
        for n in sorted(urls, reverse=True):
            pooled[n] = [ms for r in rounds[n] for ms in r[interval]]
            per_round = [p99(r[interval]) for r in rounds[n]]
            line.append(
                f"{n} symbols p99 {p99(pooled[n]):.2f} ms pooled (p50 "
                f"{statistics.median(pooled[n]):.2f}; rounds' p99 {spread(per_round, 'ms')})"
            )
        wide, base = max(urls), min(urls)
        ratio = p99(pooled[wide]) / p99(pooled[base])
        print(f"  {interval}: " + " | ".join(line) + f" | p99 ratio {ratio:.2f}")
        figures[f"klines {interval} limit={args.limit}, p99 pooled (p50)"] = ", ".join(
            f"{p99(pooled[n]):.2f} ms ({statistics.median(pooled[n]):.2f}) at {n} symbols"
            for n in sorted(urls, reverse=True)
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=2000)
    parser.add_argument("--base", type=int, default=20, help="the baseline's symbols")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="scheduled cycles measured")
    parser.add_argument("--api-rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300, help="klines requests per round")
    parser.add_argument("--limit", type=int, default=1000, help="candles a klines request asks")
    parser.add_argument("--sections", default="jobs,api", help="comma-separated: jobs, api")
    parser.add_argument(
        "--reuse", action="store_true", help="keep databases an earlier run made whole"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    server_url = db.resolve_database_url()
    urls: dict[int, str] = {}
    for n in (args.base, args.symbols):
        name = database_name(n, args.days)
        if args.reuse and made(server_url, name):
            urls[n] = db.with_database(server_url, name)
            print(f"  {name}: reused, history up to {newest_minute(urls[n])}")
        else:
            urls[n] = prepare(server_url, n, args.days)
    sections = args.sections.split(",")
    figures = {}
    if "jobs" in sections:
        figures |= jobs(args, urls)
    if "api" in sections:
        figures |= api(args, urls)
    if figures:
        record("volume_bench", command_line(), figures, rounds=args.rounds)


if __name__ == "__main__":
    main()
