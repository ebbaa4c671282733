"""Bench: the whole platform at ALL, as `SYMBOLS=ALL make demo` runs it, for an hour.

Run: `PYTHONPATH=. .venv/bin/python bench/platform_bench.py [--minutes 60] [--symbols 2000]`
(not CI: it runs long). Starts `scripts/run.sh demo` with SYMBOLS=ALL and DEMO_ALL_SYMBOLS
`--symbols` in a DATA_DIR of its own on free ports: the fake's ALL market (Binance's average
460 trades/s, its default REST limit of 6,000 weight a minute, listings and delistings), the
bootstrap, Airflow with every DAG unpaused, the streamer at ALL and the API. While it runs
(`--minutes` from the start of run.sh), it asks the API for klines of random symbols and
intervals and holds 100 WebSocket subscribers on random symbols' kline_1m streams; every
`--sample` seconds it reads each process's memory and CPU. Then it prints one table:

- per DAG: runs, failed runs, run time median and max against its schedule interval, tasks
  queued or scheduled at the end, failed task tries;
- the streamer: minutes closed per symbol against the minutes the market had, event-to-commit
  p50/p99, reconnects, repairs (gaps repaired from REST, startup gaps from klines);
- REST: the fake's weight per one-minute window (median, max), 429s and 418s (must be 0);
- the API: klines p99, push lag p99 (the API's own statement-to-queued histogram, and the
  frame's event time to its receipt by a subscriber);
- each part's memory after the warm-up (`--warmup` minutes after the Airflow UI) and at the
  end, its CPU seconds, the database's growth per hour of market and so per symbol-year;
- the oracle: every minute of every symbol (listings included) from the fake's start to
  `--settle` minutes before the end, in analytics.candles_1m equal to the fake's own klines
  (the same market rebuilt in-process from its seed and start), none missing; each stored
  5m/15m/1h bucket inside that window equal to the fake's.

Targets (issue #41): 0 failed task runs, each scheduled run inside its interval, 0 x 429, no
missing or wrong minute, memory flat within 10% after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import psutil
import psycopg

from bench.api_bench import p99
from bench.fanout_clients import connect
from bench.results import command_line, last_lines, printed, record
from bench.scale.common import _free_port, bucket_quantile
from fakebinance.__main__ import build_parser, config_from_args
from fakebinance.clock import MarketClock
from fakebinance.market import Market

ROOT = Path(__file__).resolve().parent.parent
# Each DAG's schedule interval in seconds (dags/*.py); data_quality runs after each build.
INTERVALS = {
    "build_timeframes": 300,
    "data_quality": 300,
    "binance_heal_gaps": 900,
    "binance_backfill_rest": 86_400,
    "binance_import_dumps": 86_400,
    "reconcile": 604_800,
}
KLINE_INTERVALS = ("1m", "5m", "15m", "1h", "4h", "1d")
# The stored higher timeframes compared with the fake's (the longer ones do not fit in a run).
HIGHER = {"5m": 5, "15m": 15, "1h": 60}
FIELDS = (
    "open, high, low, close, volume, quote_volume, trade_count, taker_buy_volume, "
    "taker_buy_quote_volume"
)
SUBSCRIBERS = 100


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=60, help="run time from the start (60)")
    p.add_argument("--symbols", type=int, default=2000, help="DEMO_ALL_SYMBOLS (2000)")
    p.add_argument("--warmup", type=float, default=5, help="minutes after the UI before the "
                   "memory baseline (5)")  # fmt: skip
    p.add_argument("--settle", type=float, default=10, help="minutes before the end left out "
                   "of the oracle, for the last build (10)")  # fmt: skip
    p.add_argument("--sample", type=float, default=15, help="seconds between samples (15)")
    p.add_argument("--keep", action="store_true", help="keep the DATA_DIR for a look after")
    return p.parse_args()


def part_of(cmd: list[str]) -> str:
    """Which part of the platform a process is, from its command line."""
    text = " ".join(cmd)
    for needle, part in (
        ("postgres", "postgresql"),
        ("-m fakebinance", "fake"),
        ("-m streamer", "streamer"),
        ("-m api", "api"),
        ("airflow scheduler", "airflow-scheduler"),
        ("airflow api-server", "airflow-api-server"),
        ("airflow dag-processor", "airflow-dag-processor"),
        ("airflow triggerer", "airflow-triggerer"),
        ("airflow", "airflow-tasks"),
        ("include.cli", "cli"),
    ):
        if needle in text:
            return part
    return "shells"


class Sampler:
    """Memory (RSS) and CPU seconds per part, over run.sh's tree and the embedded server's."""

    def __init__(self, root: int, data_dir: Path) -> None:
        self.root, self.data_dir = root, str(data_dir)
        self.cpu: dict[int, tuple[str, float]] = {}

    def processes(self) -> list[psutil.Process]:
        found = []
        with contextlib.suppress(psutil.Error):
            found = [psutil.Process(self.root), *psutil.Process(self.root).children(True)]
        for proc in psutil.process_iter(["cmdline"]):
            if self.data_dir in " ".join(proc.info["cmdline"] or []):
                with contextlib.suppress(psutil.Error):
                    found += [proc, *proc.children(True)]
        return list({p.pid: p for p in found}.values())

    def sample(self) -> dict[str, float]:
        """RSS MB per part now; CPU seconds (with reaped children's) remembered per process."""
        rss: dict[str, float] = defaultdict(float)
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                part = part_of(proc.cmdline())
                rss[part] += proc.memory_info().rss / 2**20
                t = proc.cpu_times()
                self.cpu[proc.pid] = (part, t.user + t.system + t.children_user + t.children_system)
        return dict(rss)

    def cpu_by_part(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for part, seconds in self.cpu.values():
            out[part] += seconds
        return dict(out)


def klines_load(port: int, symbols: list[str], stop: threading.Event, out: list[float]) -> None:
    """GET /api/v3/klines of a random symbol and interval twice a second until stopped (ms)."""
    rng = random.Random(5)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        while not stop.wait(0.5):
            params = {"symbol": rng.choice(symbols), "interval": rng.choice(KLINE_INTERVALS)}
            started = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/api/v3/klines", params=params).status_code == 200:
                    out.append((time.perf_counter() - started) * 1000)


def push_load(port: int, symbols: list[str], stop: threading.Event, out: list[float]) -> None:
    """SUBSCRIBERS clients, each on a random symbol's kline_1m: frame event time to receipt
    (ms), until stopped."""

    async def run() -> None:
        rng = random.Random(9)
        conns = await connect(f"ws://127.0.0.1:{port}/ws", SUBSCRIBERS, 0, None)
        for j, ws in enumerate(conns):
            stream = f"{rng.choice(symbols).lower()}@kline_1m"
            request = {"method": "SUBSCRIBE", "params": [stream], "id": j}
            await ws.send(orjson.dumps(request).decode())

        async def one(ws) -> None:
            with contextlib.suppress(Exception):
                while True:
                    msg = orjson.loads(await ws.recv())
                    if "E" in msg:
                        out.append(time.time() * 1000 - msg["E"])

        readers = [asyncio.ensure_future(one(ws)) for ws in conns]
        await asyncio.to_thread(stop.wait)
        for ws in conns:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)

    with contextlib.suppress(Exception):
        asyncio.run(run())


def cli_url(env: dict, *extra: str) -> str:
    """A URL from `python -m include.cli db url` in the bench's DATA_DIR."""
    return subprocess.run(
        [sys.executable, "-m", "include.cli", "db", "url", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip


def wait_for_line(log: Path, text: str, proc: subprocess.Popen, within: float) -> float:
    """Seconds until run.sh printed ``text``; fails if it exits or ``within`` passes."""
    began = time.monotonic()
    while text not in log.read_text():
        if proc.poll() is not None or time.monotonic() - began > within:
            raise SystemExit(f"run.sh never printed {text!r}; see {log}")
        time.sleep(1)
    return time.monotonic() - began


def dag_table(airflow_url: str, since: datetime) -> list[str]:
    """Per DAG: runs, failed, median and max run time against its interval, tasks waiting."""
    with psycopg.connect(airflow_url, autocommit=True) as conn:
        runs = conn.execute(
            "select dag_id, count(*), count(*) filter (where state = 'failed'), "
            "percentile_cont(0.5) within group "
            "(order by extract(epoch from end_date - start_date)), "
            "max(extract(epoch from coalesce(end_date, now()) - start_date)) "
            "from dag_run where start_date >= %s group by dag_id order by dag_id",
            (since,),
        ).fetchall()
        waiting = dict(conn.execute(
            "select dag_id, count(*) from task_instance where state in ('queued', 'scheduled') "
            "group by dag_id"
        ).fetchall())  # fmt: skip
        failed = dict(conn.execute(
            "select dag_id, count(*) from (select dag_id, state from task_instance union all "
            "select dag_id, state from task_instance_history) as t where state = 'failed' "
            "group by dag_id"
        ).fetchall())  # fmt: skip
    lines = [f"  {'DAG':<22} runs failed  median s  max s  interval s  queued  failed tries"]
    for dag_id, n, bad, median, longest in runs:
        lines.append(
            f"  {dag_id:<22} {n:>4} {bad:>6} {median or 0:>9.1f} {longest or 0:>6.1f} "
            f"{INTERVALS.get(dag_id, 0):>11} {waiting.get(dag_id, 0):>7} "
            f"{failed.get(dag_id, 0):>13}"
        )
    return lines


def oracle(
    url: str, symbols: int, market_start: datetime, start: datetime, end: datetime
) -> tuple[list[str], int]:
    """Every minute (and 5m/15m/1h bucket) of [start, end) of every symbol in analytics
    compared with the fake's klines of the same market (run.sh's flags, rebuilt in-process
    from its seed and ``market_start``); (lines, the market's 1m klines in the window)."""
    args = build_parser().parse_args(["--all", str(symbols), "--seed", "42"])
    config = config_from_args(args, market_start)
    market = Market(config, MarketClock(end, speed=0))
    specs = config.symbols
    minutes_1m = 0
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    lines = []
    with psycopg.connect(url, autocommit=True) as conn:
        for interval, minutes in {"1m": 1, **HIGHER}.items():
            expected = wrong = missing = extra = 0
            examples: list[str] = []
            for spec in specs:
                official = {
                    k.open_time: (k.open, k.high, k.low, k.close, k.volume, k.quote_volume,
                                  k.trade_count, k.taker_buy_volume, k.taker_buy_quote_volume)
                    for k in market.klines(spec.symbol, interval, start_ms, end_ms - 1, 100_000)
                    if k.open_time + minutes * 60_000 <= end_ms
                }  # fmt: skip
                stored = {
                    int(r[0]): tuple(r[1:])
                    for r in conn.execute(
                        f"select (extract(epoch from open_time) * 1000)::bigint, {FIELDS} "
                        f"from analytics.candles_{interval} where symbol = %s "
                        "and open_time >= %s and open_time + %s <= %s",
                        (spec.symbol, start, timedelta(minutes=minutes), end),
                    )
                }
                expected += len(official)
                minutes_1m += len(official) if interval == "1m" else 0
                lost = [t for t in official if t not in stored]
                missing += len(lost)
                extra += sum(1 for t in stored if t not in official)
                unequal = [
                    t for t, row in official.items()
                    if t in stored and tuple(Decimal(v) for v in stored[t]) != row
                ]  # fmt: skip
                wrong += len(unequal)
                examples += [f"{spec.symbol} {_minute(t)} missing" for t in lost]
                examples += [f"{spec.symbol} {_minute(t)} wrong" for t in unequal]
            lines.append(
                f"  candles_{interval:<4} {expected:>9} expected  {missing:>6} missing  "
                f"{wrong:>6} wrong  {extra:>6} not in the market"
                + (f" (first: {', '.join(examples[:5])})" if examples else "")
            )
    return lines, minutes_1m


def _minute(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%H:%M}"


def live_minutes(url: str, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(closed live minutes of [start, end), symbols with one, those of them the streamer
    copied from REST klines rather than built from trades)."""
    with psycopg.connect(url, autocommit=True) as conn:
        n, syms, copied = conn.execute(
            "select count(*), count(distinct symbol), count(*) filter (where from_klines) "
            "from market.candles_1m_live "
            "where is_closed and open_time >= %s and open_time < %s",
            (start, end),
        ).fetchone()
    return int(n), int(syms), int(copied)


def db_size(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute("select pg_database_size(current_database())").fetchone()[0])


def metric_samples(port: int) -> dict[str, list]:
    """A process's /metrics as name -> [(labels, value)]."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60).text
    out: dict[str, list] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append((sample.labels, sample.value))
    return out


def start_platform(args: argparse.Namespace, data_dir: Path, ports: dict, start: datetime):
    """`scripts/run.sh demo` at ALL in its own DATA_DIR and session; (process, env, log)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")},
        "PYTHONPATH": str(ROOT),
        "DATA_DIR": str(data_dir),
        "SYMBOLS": "ALL",
        "DEMO_ALL_SYMBOLS": str(args.symbols),
        "FAKE_PORT": str(ports["fake"]),
        "FAKE_START": start.isoformat(),
        "AIRFLOW__API__PORT": str(ports["airflow"]),
        "API_PORT": str(ports["api"]),
        "STREAMER_HEALTH_PORT": str(ports["streamer"]),
    }
    for name in ("AIRFLOW_HOME", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"):
        env.pop(name, None)
    log = data_dir / "run.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            ["bash", "scripts/run.sh", "demo"], cwd=ROOT, env=env, stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return proc, env, log


def measure(args: argparse.Namespace, proc, env: dict, log: Path, ports: dict, start) -> dict:
    """Run the loads and the sampling until ``--minutes`` after the start; everything the
    table shows, read while the platform still runs."""
    deadline = time.monotonic() + args.minutes * 60
    r: dict = {"ui_s": wait_for_line(log, "Airflow UI on", proc, args.minutes * 60)}
    wait_for_line(log, "API and live chart", proc, 600)
    admin, airflow_url = cli_url(env), cli_url(env, "--database", "airflow")
    size_at_ui, ui_at = db_size(admin), datetime.now(UTC)
    fake = f"http://127.0.0.1:{ports['fake']}"
    info = httpx.get(f"{fake}/api/v3/exchangeInfo", timeout=120).json()
    names = [s["symbol"] for s in info["symbols"] if s["status"] == "TRADING"]
    sampler, stop = Sampler(proc.pid, Path(env["DATA_DIR"])), threading.Event()
    klines_ms: list[float] = []
    push_ms: list[float] = []
    threads = [
        threading.Thread(target=klines_load, args=(ports["api"], names, stop, klines_ms)),
        threading.Thread(target=push_load, args=(ports["api"], names, stop, push_ms)),
    ]
    for thread in threads:
        thread.start()
    try:
        warm_at = time.monotonic() + args.warmup * 60
        r["rss_start"] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            rss = sampler.sample()
            if not r["rss_start"] and time.monotonic() >= warm_at:
                r["rss_start"] = rss
            time.sleep(args.sample)
        r["rss_end"] = sampler.sample()
        r["rss_start"] = r["rss_start"] or r["rss_end"]
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    end = datetime.now(UTC)
    r["cpu"], r["klines_ms"], r["push_ms"] = sampler.cpu_by_part(), klines_ms, push_ms
    r["dags"] = dag_table(airflow_url, start)
    r["fake"] = httpx.get(f"{fake}/fake/stats", timeout=60).json()
    streamer = metric_samples(ports["streamer"])
    r["event_to_commit"] = [
        (float(labels["le"]), v)
        for labels, v in streamer["streamer_event_to_commit_seconds_bucket"]
    ]
    r["reconnects"] = sum(v for _, v in streamer["streamer_reconnects_total"])
    r["repairs"] = sum(
        v
        for name in ("streamer_gaps_repaired_total", "streamer_startup_gaps_from_klines_total")
        for _, v in streamer[name]
    )
    api = metric_samples(ports["api"])
    r["push_lag"] = [(float(labels["le"]), v) for labels, v in api["api_push_lag_seconds_bucket"]]
    hours = (end - ui_at).total_seconds() / 3600
    r["growth_per_hour"] = (db_size(admin) - size_at_ui) / hours if hours > 0 else float("nan")
    live_from = start.replace(second=0) + timedelta(minutes=1)
    oracle_end = (end - timedelta(minutes=args.settle)).replace(second=0, microsecond=0)
    r["window"] = (live_from, oracle_end)
    r["live"] = live_minutes(admin, live_from, oracle_end)
    r["oracle"], r["market_minutes"] = (
        oracle(admin, args.symbols, start, live_from, oracle_end)
        if oracle_end > live_from
        else ([], 0)
    )
    return r


def print_table(args: argparse.Namespace, r: dict) -> None:
    """The one table."""
    windows = sorted(r["fake"].get("weight_by_window", {}).values())
    print(f"platform_bench: SYMBOLS=ALL make demo, {args.symbols} symbols, {args.minutes:g} "
          f"minutes; Airflow UI after {r['ui_s']:.0f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared)")  # fmt: skip
    print("DAGs (runs started since the start):")
    print("\n".join(r["dags"]))
    (first, last), (closed, live_symbols, copied) = r["window"], r["live"]
    print(
        f"streamer: {closed} minutes closed over {live_symbols} symbols ({closed - copied} "
        f"from trades, {copied} copied from REST klines) against "
        f"{r['market_minutes']} minutes the market had ({first:%H:%M}-{last:%H:%M} UTC); "
        f"event-to-commit p50 {bucket_quantile(r['event_to_commit'], 0.5) * 1000:.0f} ms, "
        f"p99 {bucket_quantile(r['event_to_commit'], 0.99) * 1000:.0f} ms; "
        f"{r['reconnects']:.0f} reconnects, {r['repairs']:.0f} repairs"
    )
    print(
        f"REST: weight per minute median {statistics.median(windows) if windows else 0:.0f}, "
        f"max {max(windows, default=0)} (limit 6000); 429s {r['fake'].get('http_429')}, "
        f"418s {r['fake'].get('http_418')} (target 0)"
    )
    klines = f"{p99(r['klines_ms']):.1f} ms" if len(r["klines_ms"]) > 1 else "n/a"
    push = f"{p99(r['push_ms']):.0f} ms" if len(r["push_ms"]) > 1 else "n/a"
    print(
        f"API: klines p99 {klines} over {len(r['klines_ms'])} requests (random symbols and "
        f"intervals); push: statement to queued p99 "
        f"{bucket_quantile(r['push_lag'], 0.99) * 1000:.0f} ms, event time to receipt p99 {push} "
        f"over {len(r['push_ms'])} frames to {SUBSCRIBERS} subscribers"
    )
    print(f"  {'part':<22} {'RSS MB after warm-up':>20} {'at the end':>11} {'CPU s':>8}")
    for part in sorted(set(r["rss_end"]) | set(r["cpu"])):
        print(
            f"  {part:<22} {r['rss_start'].get(part, 0):>20.0f} {r['rss_end'].get(part, 0):>11.0f} "
            f"{r['cpu'].get(part, 0):>8.0f}"
        )
    growth = r["growth_per_hour"]
    print(
        f"database: {growth / 2**20:.0f} MB per hour of market, "
        f"{growth * 8766 / args.symbols / 2**30:.2f} GB per symbol-year"
    )
    print("oracle (analytics against the fake's klines):")
    print("\n".join(r["oracle"]) or "  n/a: the run is shorter than --settle")


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="platform-bench-"))
    ports = {name: _free_port() for name in ("fake", "airflow", "api", "streamer")}
    start = datetime.now(UTC).replace(microsecond=0)
    proc, env, log = start_platform(args, data_dir, ports, start)
    try:
        results = measure(args, proc, env, log, ports, start)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(180)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    with printed() as lines:
        print_table(args, results)
    record("platform_bench", command_line(), last_lines(lines, keep=8), rounds=1)


if __name__ == "__main__":
    main()
