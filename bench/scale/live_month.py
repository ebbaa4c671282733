"""The storage section's live month: a month of minutes written as the running platform writes
them, faster than real time, through its own code.

- The streamer: one streamer.aggregator.Aggregator and streamer.writer.Writer, as
  streamer_writer. Each simulated minute every symbol trades `updates` times, evenly spaced;
  after each round of trades the writer flushes once (Writer.flush_once), as its 25 ms cadence
  does when each symbol traded once in between: the minute's row is inserted by its first
  flush, updated by every later one, and closed (one more update) by the first flush of the
  next minute, whose first trade proves it over. A trade is BTC-like (price with 2 decimals
  near 60,000-90,000, quantity with 5), folded into candles by the streamer's exact arithmetic.
- The daily klines: binance_backfill_rest's run of each day, at 00:01, as history_loader:
  the day's klines through the backfill's writer (include.history.klines_store.
  upsert_rest_klines), one transaction per symbol-day, then its live_retention task
  (partitions.maintain with LIVE_RETENTION_DAYS' default) and its rebuild_indexes task
  (include.platform.index_rebuilds, the klines' finished months). The klines are the minutes
  the streamer closed, not fetched from REST (what REST would return for them).
- dbt: include.timeframes.build_timeframes (the build_timeframes DAG's task, as dbt_builder)
  after each day's klines (the DAG's Asset trigger) and every `dbt_every` simulated minutes,
  each followed by the DAG's rebuild_indexes task (the marts' finished months).
- The day after the month is played too: its daily run is the first that finds the month
  over for index_rebuilds.SETTLE, and packs its indexes as the platform does.
- The partitions ahead: partitions.maintain as the build's maintenance runs it, hourly.
- Vacuum: PostgreSQL's autovacuum rule at every simulated minute (bench/scale/autovacuum.py),
  beside the server's own autovacuum.

Shortcuts, each printed beside the figure: the clock (maintenance and retention are given the
simulated now; updated_at and loaded_at are the host's, which only orders the builds' reads),
the klines taken from the streamer's minutes instead of REST, dbt every `dbt_every` minutes
instead of every 5 (a build takes seconds here), the autovacuum rule applied instantly, and
heal-gaps not run (a month without a hole: it writes nothing).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from bench.scale.autovacuum import Autovacuum
from include.history import klines_store
from include.platform import db, index_rebuilds, partitions
from include.platform.settings import DEFAULT_LIVE_RETENTION_DAYS
from include.platform.times import MINUTE_MS
from include.timeframes import build_timeframes
from streamer.aggregator import Aggregator
from streamer.candle import Candle
from streamer.metrics import Metrics
from streamer.parser import Trade
from streamer.writer import Writer

# The month played: November 2025 (30 days), after which the retention has run 30 times.
MONTH_START = datetime(2025, 11, 1, tzinfo=UTC)
MONTH_DAYS = 30
DAY_MS = 1440 * MINUTE_MS
# Real names, 7 and 8 characters in turn: a primary key (symbol, open_time) whose symbol has 8
# or more packs about half as densely when each symbol's rows are appended in its own part of
# the index, as the daily klines and the builds do (PostgreSQL keeps a split's left page full
# only for keys of at most 7 characters; docs/architecture.md "Storage").
NAMES = ("BTCUSDT", "PEPEUSDT", "ETHUSDT", "DOGEUSDT", "SOLUSDT", "SHIBUSDT", "XRPUSDT", "LINKUSDT")
# The days played after the month: the first daily run that finds it over for SETTLE.
AFTER_DAYS = index_rebuilds.SETTLE.days
# A trade's id of each symbol starts here (Binance's BTCUSDT ids are in the billions).
FIRST_TRADE_ID = 5_000_000_000


@dataclass
class MonthDone:
    """What the month did, counted by the parts that did it."""

    minutes: int = 0
    flushes: int = 0
    rows_written: int = 0
    klines: int = 0
    builds: int = 0
    build_seconds: float = 0.0
    retention_runs: int = 0
    days_dropped: int = 0
    # Months whose indexes the loader's and the builder's rebuild_indexes packed.
    rebuilt: list[str] = field(default_factory=list)
    days_kept: int = 0
    seconds: float = 0.0
    autovacuum: Autovacuum | None = None


def trade(symbol: str, index: int, minute: int, k: int, updates: int, trade_id: int) -> Trade:
    """The k-th of a minute's `updates` trades of a symbol: BTC-like decimals, deterministic."""
    n = minute * updates + k
    wobble = (n * 7919 + index * 104729) % 10007
    cents = round((75000 + 15000 * math.sin(n / (20000.0 * updates))) * 100) + wobble
    qty = 1 + (n * 104729 + index * 7919) % 99_999  # 0.00001 .. 0.99999 BTC
    start = MONTH_START.timestamp() * 1000 + minute * MINUTE_MS
    return Trade(
        symbol=symbol,
        seq=trade_id,
        first_id=trade_id,
        last_id=trade_id,
        price=cents * 10**6,
        qty=qty * 10**3,
        time_ms=int(start + (k * MINUTE_MS) // updates + index % 7),
        buyer_maker=bool(n % 2),
    )


def kline(c: Candle) -> list:
    """A closed minute as /api/v3/klines returns it."""
    row = c.row()
    return [c.open_time, *row[2:7], c.open_time + MINUTE_MS - 1, *row[7:11], "0"]


class LiveMonth:
    """Plays the month; `run` returns what it did."""

    def __init__(self, url: str, symbols: int, updates: int, dbt_every: int) -> None:
        self.url = url
        self.symbols = [NAMES[i] if i < len(NAMES) else f"SIM{i:04d}USDT" for i in range(symbols)]
        self.updates = updates
        self.dbt_every = dbt_every
        self.aggregator = Aggregator(startup_repair=False)
        self.writer = Writer(db.role_url(url, db.STREAMER), self.aggregator, Metrics())
        self.loader_url = db.role_url(url, db.LOADER)
        self.builder_url = db.role_url(url, db.BUILDER)
        self.trade_ids = dict.fromkeys(self.symbols, FIRST_TRADE_ID)
        # Each day's closed minutes, per symbol, for that day's klines.
        self.closed: dict[str, list[list]] = {s: [] for s in self.symbols}
        self.done = MonthDone(autovacuum=Autovacuum())

    def now(self, minute: int) -> datetime:
        return MONTH_START + timedelta(minutes=minute)

    async def play_minute(self, minute: int) -> None:
        """One minute of trades, a flush after each round of them."""
        clock = time.monotonic
        for k in range(self.updates):
            for index, symbol in enumerate(self.symbols):
                self.trade_ids[symbol] += 1
                t = trade(symbol, index, minute, k, self.updates, self.trade_ids[symbol])
                self.aggregator.apply(t, clock())
            self.done.rows_written += await self.writer.flush_once()
            self.done.flushes += 1
            if k == 0 and minute:
                self.collect_closed(minute - 1)

    def collect_closed(self, minute: int) -> None:
        """The previous minute, closed by this minute's first trades: its kline to be."""
        open_ms = int(MONTH_START.timestamp() * 1000) + minute * MINUTE_MS
        for symbol in self.symbols:
            c = self.aggregator.books[symbol].candles[open_ms]
            assert c.closed, f"{symbol} {minute} not closed"
            self.closed[symbol].append(kline(c))

    def daily(self, minute: int) -> None:
        """binance_backfill_rest at 00:01: yesterday's klines, then its live_retention."""
        day_ms = int(MONTH_START.timestamp() * 1000) + (minute // 1440) * DAY_MS
        with psycopg.connect(self.loader_url) as conn:
            for symbol in self.symbols:
                held = self.closed[symbol]
                rows = [r for r in held if r[0] < day_ms]
                self.closed[symbol] = [r for r in held if r[0] >= day_ms]
                with conn.transaction():
                    self.done.klines += klines_store.upsert_rest_klines(conn, symbol, rows)
        with psycopg.connect(self.loader_url, autocommit=True) as conn:
            kept = partitions.maintain(
                conn, now=self.now(minute), retention_days=DEFAULT_LIVE_RETENTION_DAYS
            )
            self.rebuild(conn, "klines", minute)
        self.done.retention_runs += 1
        self.done.days_dropped += len(kept.dropped)
        self.done.days_kept = len(kept.kept)

    def rebuild(self, conn: psycopg.Connection, kind: str, minute: int) -> None:
        """A DAG's rebuild_indexes task, on the simulated now."""
        tables = index_rebuilds.tables_of(conn, kind)
        done = index_rebuilds.rebuild_finished_months(conn, tables, now=self.now(minute))
        self.done.rebuilt += [r.relation for r in done.rebuilt]

    def ahead(self, minute: int) -> None:
        """The partitions ahead, as the build's maintenance makes them, on the simulated now."""
        with psycopg.connect(self.builder_url, autocommit=True) as conn:
            partitions.maintain(conn, now=self.now(minute))

    def build(self, minute: int) -> None:
        started = time.perf_counter()
        build_timeframes(self.builder_url, unit_tests=False)
        self.done.build_seconds += time.perf_counter() - started
        self.done.builds += 1
        with psycopg.connect(self.builder_url, autocommit=True) as conn:
            self.rebuild(conn, "marts", minute)

    async def flush_stats(self) -> None:
        """The writer's table statistics, as a minute of real time would have sent them."""
        conn = self.writer.conn
        if conn is not None and not conn.closed:
            await conn.set_autocommit(True)
            await conn.execute("select pg_stat_force_next_flush()")

    async def run(self, days: int = MONTH_DAYS) -> MonthDone:
        started = time.perf_counter()
        self.ahead(0)
        # As a start from the klines before the month: the stream's ids count on from there.
        month_ms = int(MONTH_START.timestamp() * 1000)
        for symbol in self.symbols:
            self.aggregator.start_at(symbol, month_ms, FIRST_TRADE_ID, 75_000 * 10**8)
        av = self.done.autovacuum
        assert av is not None
        with psycopg.connect(self.url, autocommit=True) as admin:
            # The day after the month, and one minute past it: that minute's first trades
            # close the day's last minute, and the day's jobs run at 00:01, once yesterday's
            # last minute is over.
            last = (days + after_days(days)) * 1440 + 1
            for minute in range(last + 1):
                if minute > 1 and minute % 1440 == 1:
                    self.daily(minute)
                    self.build(minute)
                elif minute and minute % self.dbt_every == 0:
                    self.build(minute)
                if minute % 60 == 0:
                    self.ahead(minute)
                if minute == last:
                    break
                await self.play_minute(minute)
                await self.flush_stats()
                av.run(admin)
                self.done.minutes += 1
        await self.writer.drain(10.0)
        self.done.seconds = time.perf_counter() - started
        return self.done


def after_days(days: int) -> int:
    """The days played after `days` of the month: AFTER_DAYS once it is whole (a shorter
    play's month is not over, and a day more would land in the partitions measured)."""
    return AFTER_DAYS if days >= MONTH_DAYS else 0


def live_month(url: str, symbols: int, updates: int, dbt_every: int, days: int) -> MonthDone:
    """Play `days` days of the month on the database at url (migrated, empty)."""
    return asyncio.run(LiveMonth(url, symbols, updates, dbt_every).run(days))
