"""The restart section: the streamer SIGKILLed at ALL, its missed minutes back and exact."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

from bench.databases import fresh_database
from bench.scale.common import (
    BINANCE_AVG_TRADES_PER_S,
    STREAMER_START,
    _free_port,
    spot_streamer_env,
    start_fake,
)
from include.platform import db

RESTART_DB = "scale_bench_restart"
# Per symbol, how many of the minutes a restart missed ([since, restart minute)) are closed.
RESTART_CLOSED = """
select k.symbol, k.since, count(live.open_time)
from unnest(%(symbols)s::text[], %(since)s::timestamptz[]) as k (symbol, since)
left join market.candles_1m_live as live
    on live.symbol = k.symbol and live.open_time >= k.since
    and live.open_time < %(restart)s and live.is_closed
group by k.symbol, k.since
"""


# Which of the symbols have closed the restart's own minute (its first trades were before the
# stream began).
RESTART_MINUTE_CLOSED = """
select symbol from market.candles_1m_live
where symbol = any(%(symbols)s::text[]) and open_time = %(restart)s and is_closed
"""

# The symbols with a trade id in a closed minute at the kill: those the streamer can start from
# their klines alone (the others, quiet all through the first run, from their latest trade).
WITH_TRADE_ID = """
select distinct symbol from market.candles_1m_live where is_closed and last_trade_id is not null
"""


def _streamer_proc(
    root: Path, url: str, fake_url: str, port: int, log: Path | None = None
) -> subprocess.Popen:
    """`python -m streamer` at ALL with the production defaults (startup repair on, the
    shared weight budget, Binance's limit at the fake); its INFO log appended to ``log``."""
    level = "INFO" if log is not None else "WARNING"
    env = spot_streamer_env(root, url, fake_url, port, STREAMER_LOG_LEVEL=level)
    if log is None:
        return subprocess.Popen(
            [sys.executable, "-m", "streamer"], cwd=root, env=env, stderr=subprocess.DEVNULL
        )
    with log.open("a") as sink:
        return subprocess.Popen([sys.executable, "-m", "streamer"], cwd=root, env=env, stderr=sink)


def _terminate(proc: subprocess.Popen, seconds: float = 30) -> None:
    """SIGTERM, then SIGKILL after ``seconds``: whatever state it is in, the fake never outlives
    the bench (its own shutdown gives up a ticker/24hr still computing)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _health(port: int) -> dict:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return {}


def restart(args: argparse.Namespace) -> None:
    """A restart at ALL on the production path: the fake's ALL market (`--streamer-symbols`,
    default 2,000) at Binance's average rate (460 trades/s) and Binance's own REST limit (6,000
    weight a minute: the fake's default, not raised), `python -m streamer` with SYMBOLS=ALL and
    every default (startup repair on, the shared weight budget). After `--restart-warmup` s the
    streamer is SIGKILLed, stays down `--restart-down` s (150), and starts again. It polls each
    second (and prints every 10 s), for the minutes every trading symbol missed (from the minute
    after its newest closed one at the kill, or after the first start's own minute for a symbol
    that had closed none, up to the restart's minute), how many are still not closed in
    market.candles_1m_live, the symbols they belong to and the gaps still pending; then the time
    until none is left (target: within 60 s of the restart; 120 s before) and whether every
    one of them equals the fake's official kline (read from its REST after the window, one
    request per symbol); and the restart's own minute, for every symbol and for those with a
    trade id in a closed minute at the kill (the others start from their latest trade). The
    first start is reported too: reconnects of its connections during the warmup. The fake
    computes its 24-hour tickers before it serves (--warm-tickers, about 45 s at ALL): Binance
    answers them from memory, the fake would pay a day of ALL's trades on the first.
    """
    server_url = db.resolve_database_url()
    url = fresh_database(server_url, RESTART_DB)
    root = Path(__file__).resolve().parents[2]
    fake_cmd = [
        sys.executable, "-m", "fakebinance", "--port", "0", "--all", str(args.streamer_symbols),
        "--rate", str(BINANCE_AVG_TRADES_PER_S), "--start", STREAMER_START, "--warm",
        "--warm-tickers", "--listings", "0", "--delistings", "0",
    ]  # fmt: skip
    fake, fake_url = start_fake(fake_cmd, root)
    port = _free_port()
    log = Path(args.restart_log) if args.restart_log else None
    if log is not None:
        log.write_text("")
    # Every symbol trading counts, those without a closed minute at the kill too (a quiet one):
    # their missed minutes start after the first start's own minute, the first it saw whole.
    listed = httpx.get(f"{fake_url}/api/v3/exchangeInfo", timeout=60).json()["symbols"]
    trading = sorted(s["symbol"] for s in listed if s.get("status") == "TRADING")
    first_ms = httpx.get(f"{fake_url}/api/v3/time", timeout=5).json()["serverTime"]
    first_whole = datetime.fromtimestamp((first_ms - first_ms % 60_000 + 60_000) / 1000, UTC)
    proc = _streamer_proc(root, url, fake_url, port, log)
    try:
        time.sleep(args.restart_warmup)
        first = _health(port)
        reconnects = sum(c.get("reconnects", 0) for c in first.get("connections", []))
        print(
            f"  first start: {len(first.get('connections', []))} connections, {reconnects} "
            f"reconnects in {args.restart_warmup:.0f} s, gaps pending "
            f"{first.get('gaps', {}).get('pending')}"
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with psycopg.connect(url, autocommit=True) as conn:
            closed = dict(
                conn.execute(
                    "select symbol, max(open_time) + interval '1 minute' "
                    "from market.candles_1m_live where is_closed group by symbol"
                ).fetchall()
            )
            with_id = {r[0] for r in conn.execute(WITH_TRADE_ID).fetchall()}
        newest = [(s, closed.get(s, first_whole)) for s in trading]
        time.sleep(args.restart_down)
        now_ms = httpx.get(f"{fake_url}/api/v3/time", timeout=5).json()["serverTime"]
        restart_minute = datetime.fromtimestamp((now_ms - now_ms % 60_000) / 1000, UTC)
        # Seconds from the restart to the end of its minute.
        ends_after = 60 - now_ms % 60_000 / 1000
        asked_before = httpx.get(f"{fake_url}/fake/stats", timeout=5).json()
        if log is not None:
            with log.open("a") as sink:
                sink.write(f"--- restart at {datetime.now(UTC):%H:%M:%S} ---\n")
        proc = _streamer_proc(root, url, fake_url, port, log)
        restarted = time.monotonic()
        symbols = [s for s, _ in newest]
        since = [t for _, t in newest]
        expected = {s: int((restart_minute - t).total_seconds() // 60) for s, t in newest}
        print(
            f"  killed with {len(symbols)} symbols trading, {len(symbols) - len(closed)} of "
            f"them without a closed minute, down "
            f"{args.restart_down:.0f} s: {sum(expected.values()):,} minutes missed "
            f"(up to the restart's minute {restart_minute:%H:%M}, restarted "
            f"{60 - ends_after:.0f} s into it: it ends {ends_after:.0f} s later)"
        )
        done_after = own_after = own_with_id_after = None
        polls = 0
        # Polled every second, so the times below are to the second; printed every 10th poll.
        while time.monotonic() - restarted < args.restart_window:
            time.sleep(1)
            polls += 1
            with psycopg.connect(url, autocommit=True) as conn:
                rows = conn.execute(
                    RESTART_CLOSED,
                    {"symbols": symbols, "since": since, "restart": restart_minute},
                ).fetchall()
                own_closed = {
                    r[0]
                    for r in conn.execute(
                        RESTART_MINUTE_CLOSED, {"symbols": symbols, "restart": restart_minute}
                    )
                }
            own_open = len(symbols) - len(own_closed)
            left = {s: expected[s] - n for s, _, n in rows if n < expected[s]}
            health = _health(port)
            elapsed = time.monotonic() - restarted
            if not left and done_after is None:
                done_after = elapsed
            if not own_open and own_after is None:
                own_after = elapsed
            if with_id <= own_closed and own_with_id_after is None:
                own_with_id_after = elapsed
            finished = done_after is not None and own_after is not None
            if polls % 10 and not finished:
                continue
            asked = httpx.get(f"{fake_url}/fake/stats", timeout=5).json()
            print(
                f"  +{elapsed:4.0f} s: {sum(left.values()):,} missed minutes not closed, "
                f"{len(left)} symbols; the restart's own minute open for {own_open}; "
                f"gaps pending {health.get('gaps', {}).get('pending')}; "
                f"REST so far {asked['weight_total'] - asked_before['weight_total']:,} weight, "
                + ", ".join(
                    f"{p.rsplit('/', 1)[-1]} {n - asked_before['requests_by_path'].get(p, 0)}"
                    for p, n in sorted(asked["requests_by_path"].items())
                    if n > asked_before["requests_by_path"].get(p, 0)
                )
            )
            if finished:
                break
        asked_after = httpx.get(f"{fake_url}/fake/stats", timeout=5).json()
        spent = asked_after["weight_total"] - asked_before["weight_total"]
        paths = {
            p.rsplit("/", 1)[-1]: n - asked_before["requests_by_path"].get(p, 0)
            for p, n in asked_after["requests_by_path"].items()
            if n > asked_before["requests_by_path"].get(p, 0)
        }
        print(f"  REST since the restart: {spent:,} weight; requests {paths}")
    finally:
        _terminate(proc, 120)
    try:
        # The missed minutes and the restart's own.
        end = restart_minute + timedelta(minutes=1)
        differ = _restart_exactness(url, fake_url, symbols, since, end)
    finally:
        _terminate(fake)

    # Every minute back within a minute (2 before): the missed ones and the restart's own.
    def within(limit: float) -> str:
        holds = done_after is not None and own_after is not None
        return "holds" if holds and max(done_after, own_after) <= limit else "does not hold"

    print(
        f"restart at ALL ({args.streamer_symbols} symbols, Binance's limit, startup repair on): "
        + (
            f"every missed minute closed {done_after:.0f} s after the restart"
            if done_after is not None
            else f"missed minutes still open {args.restart_window:.0f} s after the restart"
        )
        + "; the restart's own "
        + (
            f"minute ({restart_minute:%H:%M}) closed for every symbol {own_after:.0f} s after"
            if own_after is not None
            else f"minute still open for some symbols {args.restart_window:.0f} s after"
        )
        + f" (target: both <= 60 s: {within(60)}; <= 120 s: {within(120)}); for the "
        + f"{len(with_id)} symbols with a trade id at the kill "
        + (
            f"{own_with_id_after:.0f} s after (it ended {ends_after:.0f} s after the restart)"
            if own_with_id_after is not None
            else "not closed"
        )
        + f"; {differ} closed minutes differ from the official klines"
    )


def _restart_exactness(
    url: str, fake_url: str, symbols: list[str], since: list[datetime], restart_minute: datetime
) -> int:
    """How many closed live minutes of the missed spans differ from the fake's REST klines."""
    differ = 0
    fields = "open, high, low, close, volume, quote_volume, trade_count"
    with psycopg.connect(url, autocommit=True) as conn, httpx.Client(timeout=30) as client:
        for symbol, start in zip(symbols, since, strict=True):
            rows = conn.execute(
                f"select (extract(epoch from open_time) * 1000)::bigint, {fields} "
                "from market.candles_1m_live where symbol = %s and is_closed "
                "and open_time >= %s and open_time < %s",
                (symbol, start, restart_minute),
            ).fetchall()
            if not rows:
                continue
            while True:
                answer = client.get(
                    f"{fake_url}/api/v3/klines",
                    params={
                        "symbol": symbol,
                        "interval": "1m",
                        "startTime": int(start.timestamp() * 1000),
                        "endTime": int(restart_minute.timestamp() * 1000) - 1,
                        "limit": 1000,
                    },
                )
                if answer.status_code != 429:
                    break
                time.sleep(float(answer.headers.get("Retry-After", "5")))
            official = {
                int(k[0]): (*(Decimal(v) for v in k[1:6]), Decimal(k[7]), int(k[8]))
                for k in answer.json()
            }
            differ += sum(1 for r in rows if official.get(r[0]) != tuple(r[1:]))
    return differ
