"""Bench: the streamer end to end into PostgreSQL beside a bare websockets loop on the same feed.

Run: `.venv/bin/python bench/streamer_bench.py [--rounds 5] [--latency-seconds 30]` (in a
database of its own, bench_streamer, on DATABASE_URL's server or the embedded PostgreSQL).
The fake exchange runs in its own process (pinned to CPU 1), each measured client in another
(pinned to CPU 0). Targets (#21): streamer >= 0.9x the bare websockets loop's trades/s in every
round; p99 event-to-commit < 50 ms at 10,000 trades/s over 300 symbols. A bare picows loop (the
streamer's own client) is printed beside them: the wire limit the streamer can reach.
"""

# Blocking the loop on purpose (time.sleep) is how a backlog is built; polling is fine here.
# ruff: noqa: ASYNC251, ASYNC110

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START = "2025-01-01T00:00:00+00:00"
BENCH_DB = "bench_streamer"


def histogram_quantile(histogram, q: float) -> float:
    """A quantile of a Prometheus histogram (bench.scale.common.bucket_quantile); -1 if empty."""
    from bench.scale.common import bucket_quantile

    buckets = [
        (float(sample.labels["le"]), sample.value)
        for metric in histogram.collect()
        for sample in metric.samples
        if sample.name.endswith("_bucket")
    ]
    value = bucket_quantile(buckets, q)
    return -1.0 if math.isnan(value) else value


def pin(cpu: int) -> None:
    """Pin this process to one CPU when the machine has it."""
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def start_fake(
    n_symbols: int,
    per_minute: float,
    speed: float,
    market: str = "spot",
    raise_limit: bool = True,
) -> tuple[subprocess.Popen, str]:
    """`python -m fakebinance` in its own process on CPU 1; returns it and its URL. With
    market usdm (coinm) the synthetic symbols are USDⓈ-M (COIN-M) perpetuals at the futures'
    own REST limit (2,400 a minute) and spot has none; spot's limit is raised to 1,000,000
    unless ``raise_limit`` is False (then Binance's 6,000 a minute, the fake's default)."""
    if market != "spot":
        feed = [f"--{market}", f"--{market}-n-contracts", str(n_symbols), "--n-symbols", "0"]
    else:
        feed = ["--n-symbols", str(n_symbols)]
        if raise_limit:
            feed += ["--weight-limit", "1000000"]
    cmd = [
        sys.executable, "-m", "fakebinance", "--port", "0", "--symbols", "", *feed,
        "--trades-per-minute", str(per_minute), "--speed", str(speed), "--start", START,
    ]  # fmt: skip
    from bench.scale.common import start_fake

    return start_fake(cmd, ROOT, preexec_fn=lambda: pin(1))


WRITER = "unnest"


def run_child(
    role: str,
    url: str,
    seconds: float,
    n_symbols: int,
    db_url: str,
    count: int = 0,
    loop: str = "auto",
    second_symbols: int = 0,
    market: str = "spot",
) -> dict:
    """One measured client in a fresh process on CPU 0; returns its JSON result."""
    out = subprocess.run(
        [sys.executable, __file__, "--role", role, "--url", url, "--seconds", str(seconds),
         "--n-symbols", str(n_symbols), "--db", db_url, "--count", str(count), "--loop", loop,
         "--second-symbols", str(second_symbols), "--market", market],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{role} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# The market the clients read (--market): spot's @trade on /stream, USDⓈ-M's @aggTrade on
# fstream's routed /market/stream or COIN-M's on dstream's /stream, as the streamer reads each.
MARKET = "spot"


def symbols(n: int) -> list[str]:
    """The fake's synthetic symbol names (SYM0001USDT..., COIN-M's SYM0001USD_PERP...)."""
    suffix = "USD_PERP" if MARKET == "coinm" else "USDT"
    return [f"SYM{i:04d}{suffix}" for i in range(1, n + 1)]


def stream_kind() -> str:
    return "trade" if MARKET == "spot" else "aggTrade"


def ws_base(url: str) -> str:
    """The fake's WebSocket base for the market (COIN-M's dstream under /dstream)."""
    return url + ("/dstream" if MARKET == "coinm" else "")


def stream_url(url: str) -> str:
    from include.platform.markets import market

    return ws_base(url).replace("http://", "ws://") + market(MARKET).stream_path(stream_kind())


async def subscribe(send, n: int) -> None:
    """SUBSCRIBE to n trade streams as Binance allows: 200 per request, 3 requests a second.

    ``send`` is the client's own way of sending one text message."""
    streams = [f"{s.lower()}@{stream_kind()}" for s in symbols(n)]
    for i in range(0, len(streams), 200):
        await send(
            orjson.dumps({"method": "SUBSCRIBE", "params": streams[i : i + 200], "id": i + 1})
        )
        await asyncio.sleep(0.34)


async def bare(url: str, backlog: float, n: int, count: int) -> dict:
    """A websockets receive loop that does nothing but count, draining a backlog."""
    from websockets.asyncio.client import connect

    ws_url = stream_url(url)
    async with connect(ws_url, max_size=2**22, max_queue=None, compression=None) as ws:
        await subscribe(lambda message: ws.send(message.decode()), n)
        await ws.recv()
        # Block the loop: the feed piles up in the socket and the fake's queue.
        time.sleep(backlog)
        started = time.perf_counter()
        got = 0
        async for _msg in ws:
            got += 1
            if got >= count:
                break
        elapsed = time.perf_counter() - started
    return {"trades": got, "seconds": elapsed}


async def bare_picows(url: str, backlog: float, n: int, count: int) -> dict:
    """The same loop on picows, the client the streamer reads with: the wire limit it has."""
    from picows import WSListener, WSMsgType, ws_connect

    loop = asyncio.get_running_loop()

    class Counter(WSListener):
        def __init__(self) -> None:
            super().__init__()
            self.answered = loop.create_future()
            self.got = -1  # not counting until the backlog is built
            self.finished = loop.create_future()

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type != WSMsgType.TEXT:
                return
            if not self.answered.done():
                self.answered.set_result(None)
            elif self.got >= 0:
                self.got += 1
                if self.got >= count and not self.finished.done():
                    self.finished.set_result(time.perf_counter())

    transport, counter = await ws_connect(Counter, stream_url(url), max_frame_size=2**22)

    async def send(message: bytes) -> None:
        transport.send(WSMsgType.TEXT, message)

    await subscribe(send, n)
    await counter.answered
    time.sleep(backlog)
    started = time.perf_counter()
    counter.got = 0
    finished = await counter.finished
    transport.disconnect()
    return {"trades": counter.got, "seconds": finished - started}


# What these runs change from the production configuration, said beside their figures.
NOT_PRODUCTION = "startup repair off (the drained backlog is the bench's, not a gap to fetch)"
SPOT_LIMIT = "; the fake's REST weight limit raised to 1,000,000 (spot)"


def streamer_config(
    url: str, db_url: str, n: int, second_symbols: int = 0, startup_repair: bool = False
):
    from include.platform.markets import market
    from streamer.config import StreamerConfig

    return StreamerConfig(
        market=market(MARKET),
        stream=stream_kind(),
        second_symbols=frozenset(symbols(n)[:second_symbols]),
        database_url=db_url,
        symbols=tuple(symbols(n)),
        ws_url=ws_base(url),
        rest_url=url,
        health_port=0,
        startup_repair=startup_repair,
        silence_timeout=30.0,
    )


async def fake_clock(url: str):
    """A local clock following the fake's market clock (same start and speed)."""
    import aiohttp

    from fakebinance.clock import MarketClock, from_us

    async with aiohttp.ClientSession() as http, http.get(url + "/fake/clock") as resp:
        body = await resp.json()
    return MarketClock(start=from_us(body["now_us"]), speed=body["speed"]).now_ms


LAST_IDS = (
    "select l.symbol, l.last_trade_id from unnest(%s::text[], %s::bigint[]) as k (symbol, ms) "
    "join market.candles_1m_live as l on l.symbol = k.symbol "
    "and l.open_time = timestamptz 'epoch' + k.ms * interval '1 millisecond'"
)


class PolledCommits:
    """Commits of a futures market's live table, which has no NOTIFY (the push is spot's yet):
    its symbols' highest trade ids polled every 10 ms (the drain takes seconds)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.target: dict[str, int] = {}
        self.reached_at: float | None = None

    async def __aenter__(self) -> PolledCommits:
        self.task = asyncio.ensure_future(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def _poll(self) -> None:
        from include.platform.markets import market

        query = market(MARKET).sql(
            "select symbol, max(last_trade_id) from market.candles_1m_live group by symbol"
        )
        async with await psycopg.AsyncConnection.connect(self.db_url, autocommit=True) as conn:
            while True:
                await asyncio.sleep(0.01)
                if not self.target or self.reached_at is not None:
                    continue
                rows = dict(await (await conn.execute(query)).fetchall())
                if all((rows.get(s) or -1) >= i for s, i in self.target.items()):
                    self.reached_at = time.monotonic()


class Commits:
    """Commits as any reader sees them: LISTEN on the live table's own NOTIFY (candles_1m, sent
    at commit, naming the minutes changed). Each announced minute's highest trade id is read
    back, so a trade is committed once a minute of its symbol with an id at least its own has
    been announced."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.last_id: dict[str, int] = {}
        self.on_row = lambda _symbol, _last_id, _at: None
        self.target: dict[str, int] = {}
        self.reached_at: float | None = None

    async def __aenter__(self) -> Commits:
        self.conn = await psycopg.AsyncConnection.connect(self.db_url, autocommit=True)
        await self.conn.execute("listen candles_1m")
        self.task = asyncio.ensure_future(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.conn.close()

    async def _read(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.db_url, autocommit=True) as reader:
            async for note in self.conn.notifies():
                keys = orjson.loads(note.payload).get("rows")
                if not keys:
                    continue
                # A notification names the minutes a commit changed; their trade ids are read
                # back from the table, as the API reads a pushed candle's values. A later
                # commit may have raised them meanwhile: timed when read, never earlier.
                cur = await reader.execute(LAST_IDS, ([k[0] for k in keys], [k[1] for k in keys]))
                rows = await cur.fetchall()
                at = time.monotonic()
                for symbol, last_id in rows:
                    if last_id is None:
                        continue
                    if last_id > self.last_id.get(symbol, -1):
                        self.last_id[symbol] = last_id
                    self.on_row(symbol, last_id, at)
                if self.target and self.reached_at is None and self._reached():
                    self.reached_at = at

    def _reached(self) -> bool:
        return all(self.last_id.get(s, -1) >= i for s, i in self.target.items())


async def end_to_end(
    url: str, backlog: float, n: int, db_url: str, count: int, second_symbols: int = 0
) -> dict:
    """The whole streamer draining the same backlog, timed until those trades are committed
    (``second_symbols``: that many symbols also get 1s candles, SECOND_CANDLE_SYMBOLS)."""
    from streamer.app import Streamer

    streamer = Streamer(
        streamer_config(url, db_url, n, second_symbols),
        clock_ms=await fake_clock(url),
        writer_method=os.environ.get("STREAMER_BENCH_WRITER", "unnest"),
    )
    # Messages folded (a futures aggTrade counts one, as the bare loops count frames).
    futures = MARKET != "spot"
    stats = streamer.metrics.messages if futures else streamer.aggregator.stats.trades
    async with (PolledCommits if futures else Commits)(db_url) as commits:
        stop = asyncio.Event()
        task = asyncio.ensure_future(streamer.run(stop))
        # Every stream subscribed before the backlog builds, as the bare loops do: blocked
        # mid-way (SUBSCRIBE goes 200 streams at a time, 3 a second), the rest would only pile
        # up after the block.
        while not stats or sum(len(s.subscribed) for s in streamer.shards) < n:
            await asyncio.sleep(0.001)
        time.sleep(backlog)
        started = time.monotonic()
        base = sum(stats.values())
        while sum(stats.values()) - base < count:
            await asyncio.sleep(0.001)
        folded = sum(stats.values()) - base
        folded_at = time.monotonic()
        # Done when a reader has seen every trade folded so far committed.
        commits.target = {
            s: b.high_trade_id for s, b in streamer.aggregator.books.items() if b.high_trade_id
        }
        while commits.reached_at is None:
            await asyncio.sleep(0.001)
        elapsed = commits.reached_at - started
        stop.set()
        code = await task
    return {
        "trades": folded,
        "seconds": elapsed,
        "exit": code,
        "gaps": streamer.metrics.gaps_found,
        "rest": streamer.metrics.rest_requests,
        "commit_tail_s": elapsed - (folded_at - started),
        "seconds_written": streamer.writer.seconds_written,
        "settled": streamer.aggregator.stats.settled_minutes,
        "closed": streamer.aggregator.stats.closed_minutes,
    }


async def latency(
    url: str, seconds: float, n: int, db_url: str, startup_repair: bool = False
) -> dict:
    """Per-trade latency from arrival to its candle's commit as a LISTEN client sees it (the
    oldest trade of each candle, the streamer's own histogram, from its start on)."""
    from streamer.app import Streamer

    streamer = Streamer(
        streamer_config(url, db_url, n, startup_repair=startup_repair),
        clock_ms=await fake_clock(url),
        writer_method=os.environ.get("STREAMER_BENCH_WRITER", "unnest"),
    )
    # Per symbol, (trade id, arrival) in id order: the stream delivers a symbol's trades in order.
    arrivals: dict[str, collections.deque[tuple[int, float]]] = collections.defaultdict(
        collections.deque
    )
    samples: list[float] = []
    on_trade = streamer.on_trade

    def recording(trade, now):
        arrivals[trade.symbol].append((trade.last_id, now))
        on_trade(trade, now)

    def committed(symbol: str, last_id: int, at: float) -> None:
        pending = arrivals.get(symbol)
        while pending and pending[0][0] <= last_id:
            samples.append(at - pending.popleft()[1])

    streamer.on_trade = recording
    async with Commits(db_url) as commits:
        commits.on_row = committed
        stop = asyncio.Event()
        task = asyncio.ensure_future(streamer.run(stop))
        await asyncio.sleep(3)  # warm-up: connections, first candles
        samples.clear()
        base = sum(streamer.aggregator.stats.trades.values())
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        rate = (sum(streamer.aggregator.stats.trades.values()) - base) / (
            time.perf_counter() - started
        )
        stop.set()
        await task
    samples.sort()
    candle_p99 = histogram_quantile(streamer.metrics.event_to_commit, 0.99)

    def pct(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else -1.0

    return {
        "rate": rate,
        "trades": len(samples),
        "p50_ms": pct(samples, 0.5),
        "p99_ms": pct(samples, 0.99),
        "candle_p99_ms": candle_p99 * 1000,
        "flush_interval": streamer.config.flush_interval,
    }


def child(args: argparse.Namespace) -> None:
    from streamer.loop import loop_factory, loop_name

    global MARKET
    MARKET = args.market
    pin(0)
    roles = {
        "bare": lambda: bare(args.url, args.seconds, args.n_symbols, args.count),
        "picows": lambda: bare_picows(args.url, args.seconds, args.n_symbols, args.count),
        "e2e": lambda: end_to_end(args.url, args.seconds, args.n_symbols, args.db, args.count),
        "e2e1s": lambda: end_to_end(
            args.url, args.seconds, args.n_symbols, args.db, args.count, args.second_symbols
        ),
        "latency": lambda: latency(args.url, args.seconds, args.n_symbols, args.db),
        "latencyprod": lambda: latency(args.url, args.seconds, args.n_symbols, args.db, True),
    }
    # Both clients on the loop the streamer itself would pick, so the ratio compares like with like.
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        result = runner.run(roles[args.role]())
        result["loop"] = loop_name(runner.get_loop())
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def reset(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("delete from market.candles_1m_live where symbol like 'SYM%%'")
        conn.execute("delete from market.ingest_gaps where symbol like 'SYM%%'")
        conn.execute("delete from market.candles_1s_live where symbol like 'SYM%%'")
        for schema in ("market_usdm", "market_coinm"):
            conn.execute(f"delete from {schema}.candles_1m_live where symbol like 'SYM%%'")
            conn.execute(f"delete from {schema}.ingest_gaps where symbol like 'SYM%%'")


SECOND_DAY = """
insert into market.candles_1s_live (symbol, open_time, open, high, low, close, volume,
    quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, is_closed)
select 'SYMDAYUSDT', timestamptz '2025-01-01' + n * interval '1 second', s.open, s.high,
    s.low, s.close, s.volume, s.quote_volume, s.trade_count, s.taker_buy_volume,
    s.taker_buy_quote_volume, true
from generate_series(0, 86399) as n
cross join lateral (
    select * from market.candles_1s_live
    where symbol like 'SYM%' and trade_count > 0
    order by (n % 997) offset (n % 97) limit 1
) as s
"""


def second_row_bytes(db_url: str) -> tuple[int, float]:
    """(rows, bytes a second takes with its indexes): one symbol-day of seconds written from
    the run's own traded seconds, the table's growth measured."""
    size = "select pg_total_relation_size('market.candles_1s_live')"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("delete from market.candles_1s_live where symbol = 'SYMDAYUSDT'")
        conn.execute("vacuum market.candles_1s_live")
        before = conn.execute(size).fetchone()[0]
        conn.execute(SECOND_DAY)
        conn.execute("vacuum market.candles_1s_live")
        after = conn.execute(size).fetchone()[0]
        rows = conn.execute(
            "select count(*) from market.candles_1s_live where symbol = 'SYMDAYUSDT'"
        ).fetchone()[0]
        conn.execute("delete from market.candles_1s_live where symbol = 'SYMDAYUSDT'")
    return rows, (after - before) / max(rows, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--role", choices=["bare", "picows", "e2e", "e2e1s", "latency", "latencyprod"]
    )
    parser.add_argument("--url")
    parser.add_argument("--db")
    parser.add_argument(
        "--seconds",
        type=float,
        default=8.0,
        help="how long the feed piles up before the client drains it",
    )
    parser.add_argument("--count", type=int, default=100_000, help="trades to drain")
    parser.add_argument(
        "--second-symbols",
        type=int,
        default=0,
        help="also run the streamer with 1s candles for this many of the symbols "
        "(SECOND_CANDLE_SYMBOLS) each round, and print its cost",
    )
    parser.add_argument(
        "--market",
        choices=["spot", "usdm", "coinm"],
        default="spot",
        help="usdm (coinm): the synthetic symbols are USDⓈ-M (COIN-M) perpetuals, read as the "
        "streamer reads futures (@aggTrade on /market, on dstream) at the futures' default REST "
        "limit; COIN-M's mixed minutes settled from klines as in production",
    )
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="event loop of every client (auto: uvloop when importable, as the streamer does)",
    )
    parser.add_argument(
        "--writer",
        choices=["unnest", "copy", "executemany"],
        default="unnest",
        help="how the writer upserts (the streamer's default is unnest)",
    )
    # The fake's rate follows a daily curve: this gives ~10,000 trades/s over 300 symbols.
    parser.add_argument("--latency-per-minute", type=float, default=3300.0)
    parser.add_argument("--n-symbols", type=int, default=50)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--per-minute", type=float, default=3000.0)
    args = parser.parse_args()
    if args.role:
        child(args)
        return
    from bench.databases import fresh_database
    from bench.results import command_line, record
    from include.platform import db

    os.environ["STREAMER_BENCH_WRITER"] = args.writer
    # Its own database: klines another bench left in the server's default one for the fake's
    # symbols made the live minutes unannounced (a minute with a kline is not pushed), and the
    # clients waited for commits they would never see.
    db_url = fresh_database(db.resolve_database_url(), BENCH_DB)
    offered = args.n_symbols * args.per_minute / 60 * args.speed
    print(
        f"feed: {args.n_symbols} symbols replayed at {args.speed}x (up to "
        f"~{offered:,.0f} trades/s); each client lets it pile up {args.seconds} s, then "
        f"drains {args.count:,} trades; writer: {args.writer}"
    )
    roles = ("bare", "picows", "e2e") + (("e2e1s",) if args.second_symbols else ())
    rates: dict[str, list[float]] = {role: [] for role in roles}
    loops: dict[str, set[str]] = {role: set() for role in roles}
    second_rows: list[tuple[int, float]] = []
    # The clients alternate, several rounds: one shared 2-core machine is noisy.
    for round_no in range(1, args.rounds + 1):
        for role in roles:
            reset(db_url)
            fake, url = start_fake(args.n_symbols, args.per_minute, args.speed, args.market)
            try:
                r = run_child(
                    role,
                    url,
                    args.seconds,
                    args.n_symbols,
                    db_url,
                    args.count,
                    args.loop,
                    args.second_symbols,
                    args.market,
                )
            finally:
                fake.terminate()
                fake.wait(10)
            rates[role].append(r["trades"] / r["seconds"])
            loops[role].add(r["loop"])
            if role == "e2e1s":
                second_rows.append(second_row_bytes(db_url))
            print(
                f"round {round_no} {role:>5}: {rates[role][-1]:>9,.0f} trades/s "
                f"({r['trades']:,} in {r['seconds']:.2f} s) on {r['loop']}, "
                f"peak RSS {r['peak_rss_mb']:.0f} MB"
                + (
                    f"; last commit {r['commit_tail_s']:.2f} s after the last fold, "
                    f"{r['gaps']} gaps, {r['rest']} REST calls, {r['closed']} minutes closed "
                    f"from trades, {r['settled']} settled from klines"
                    if role.startswith("e2e")
                    else ""
                )
            )
    bare_rate, e2e_rate = statistics.median(rates["bare"]), statistics.median(rates["e2e"])
    picows_rate = statistics.median(rates["picows"])
    per_round = [e / b for b, e in zip(rates["bare"], rates["e2e"], strict=True)]
    print(
        f"median: bare websockets loop {bare_rate:,.0f} trades/s on "
        f"{'/'.join(sorted(loops['bare']))}, streamer into PostgreSQL {e2e_rate:,.0f} trades/s "
        f"on {'/'.join(sorted(loops['e2e']))}; ratio {e2e_rate / bare_rate:.2f} (per round "
        f"{min(per_round):.2f}-{max(per_round):.2f}; target >= 0.9 in every round)"
    )
    per_picows = [e / b for b, e in zip(rates["picows"], rates["e2e"], strict=True)]
    print(
        f"bare picows loop (the streamer's own client, nothing done per frame) "
        f"{picows_rate:,.0f} trades/s: the streamer is {e2e_rate / picows_rate:.2f}x its wire "
        f"limit (per round {', '.join(f'{x:.2f}' for x in per_picows)})"
    )
    if args.market != "spot":
        # No latency section: it times commits by the live table's NOTIFY, which is spot's.
        name = {"usdm": "USDⓈ-M", "coinm": "COIN-M"}[args.market]
        spread = f"{min(per_round):.2f}-{max(per_round):.2f}x"
        unit = "aggTrade messages/s"
        figures = {
            f"{name} end-to-end vs bare websockets loop, {args.n_symbols} perpetuals": (
                f"{e2e_rate:,.0f} vs {bare_rate:,.0f} {unit}: {e2e_rate / bare_rate:.2f}x "
                f"median ({spread})"
            ),
            f"{name} vs bare picows loop": f"{e2e_rate / picows_rate:.2f}x "
            f"({picows_rate:,.0f} {unit})",
        }
        figures["not the production path"] = NOT_PRODUCTION
        record(
            f"streamer_bench-{args.market}",
            command_line(),
            figures,
            rounds=args.rounds,
            spread=spread,
        )
        reset(db_url)
        return
    if args.second_symbols:
        with_seconds = statistics.median(rates["e2e1s"])
        ratios = [b / a for a, b in zip(rates["e2e"], rates["e2e1s"], strict=True)]
        rows, per_row = second_rows[-1]
        print(
            f"1s candles for {args.second_symbols} of {args.n_symbols} symbols: median "
            f"{with_seconds:,.0f} trades/s, {with_seconds / e2e_rate:.2f}x the streamer without "
            f"(per round {min(ratios):.2f}-{max(ratios):.2f}); "
            f"{per_row:.0f} bytes a second with its indexes (one symbol-day, {rows:,} rows): "
            f"{per_row * 86_400 / 2**20:.1f} MiB per symbol-day, "
            f"{per_row * 2 * 86_400 / 2**20:.1f} MiB per symbol at the default 2d retention"
        )
        seconds_figures = {
            f"1s candles for {args.second_symbols} symbols vs without": f"{with_seconds:,.0f} vs "
            f"{e2e_rate:,.0f} trades/s: {with_seconds / e2e_rate:.2f}x",
            "bytes of a symbol's seconds": f"{per_row:.0f} bytes a second with indexes: "
            f"{per_row * 86_400 / 2**20:.1f} MiB per symbol-day",
        }

    # The bench's settings, then production's: startup repair on, Binance's REST limit.
    lat = {}
    for role, raise_limit in (("latency", True), ("latencyprod", False)):
        reset(db_url)
        fake, url = start_fake(300, args.latency_per_minute, 1.0, raise_limit=raise_limit)
        try:
            r = lat[role] = run_child(role, url, args.latency_seconds, 300, db_url, loop=args.loop)
        finally:
            fake.terminate()
            fake.wait(10)
        settings = " (startup repair on, the fake at 6,000 weight a minute)" * (not raise_limit)
        print(
            f"latency{settings} at {r['rate']:,.0f} trades/s over 300 symbols (flush interval "
            f"{r['flush_interval']} s): p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms "
            f"per trade (target p99 < 50 ms); oldest-trade-per-candle p99 "
            f"{r['candle_p99_ms']:.0f} ms; peak RSS {r['peak_rss_mb']:.0f} MB; loop {r['loop']}"
        )
    r, prod = lat["latency"], lat["latencyprod"]
    reset(db_url)
    spread = f"{min(per_round):.2f}-{max(per_round):.2f}x"
    figures = {
        "end-to-end vs bare websockets loop": f"{e2e_rate:,.0f} vs {bare_rate:,.0f} trades/s: "
        f"{e2e_rate / bare_rate:.2f}x median ({spread}; target >= 0.9 in every round)",
        "vs bare picows loop": f"{e2e_rate / picows_rate:.2f}x ({picows_rate:,.0f} trades/s; "
        f"rounds {', '.join(f'{x:.2f}' for x in per_picows)})",
        f"latency at {r['rate']:,.0f} trades/s over 300 symbols": f"p50 {r['p50_ms']:.0f} ms, "
        f"p99 {r['p99_ms']:.0f} ms per trade (target < 50 ms); oldest trade per candle p99 "
        f"{r['candle_p99_ms']:.0f} ms",
        "not the production path": NOT_PRODUCTION + SPOT_LIMIT,
        "production's settings (startup repair on, the fake's default REST limit)": (
            f"latency at {prod['rate']:,.0f} trades/s: p50 {prod['p50_ms']:.0f} ms, p99 "
            f"{prod['p99_ms']:.0f} ms per trade; oldest trade per candle p99 "
            f"{prod['candle_p99_ms']:.0f} ms"
        ),
    }
    record("streamer_bench", command_line(), figures, rounds=args.rounds, spread=spread)
    if args.second_symbols:
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}x"
        record(
            "streamer_bench-seconds",
            command_line(),
            seconds_figures,
            rounds=args.rounds,
            spread=spread,
        )


if __name__ == "__main__":
    main()
