"""The one database writer: batches changed candles and gap records into one transaction each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import psycopg

from include.platform.backoff import Backoff
from include.platform.markets import SPOT, Market
from include.platform.partitions import LIVE_DAYS_AHEAD
from streamer.candle import ms_to_datetime
from streamer.gap import Gap
from streamer.metrics import Metrics
from streamer.seconds import SECOND_ROW_WIDTH
from streamer.sql import load_sql

if TYPE_CHECKING:
    # Drained, never imported at run time: the writer takes its batches.
    from streamer.aggregator import Aggregator

logger = logging.getLogger(__name__)

COLUMNS = (
    "symbol, open_time, open, high, low, close, volume, quote_volume, trade_count, "
    "taker_buy_volume, taker_buy_quote_volume, is_closed, first_trade_id, last_trade_id, "
    "from_klines"
)
CREATE_STAGE = (
    "create temp table if not exists candles_stage "
    "(like market.candles_1m_live including defaults) on commit delete rows"
)
COPY_STAGE = f"copy candles_stage ({COLUMNS}) from stdin"
# A restart may rebuild a minute that an earlier run already closed: never reopen it.
UPSERT_TAIL = """
on conflict (symbol, open_time) do update set
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, quote_volume = excluded.quote_volume,
    trade_count = excluded.trade_count, taker_buy_volume = excluded.taker_buy_volume,
    taker_buy_quote_volume = excluded.taker_buy_quote_volume, is_closed = excluded.is_closed,
    first_trade_id = excluded.first_trade_id, last_trade_id = excluded.last_trade_id,
    from_klines = excluded.from_klines, updated_at = now()
where not (market.candles_1m_live.is_closed and not excluded.is_closed)
"""
UPSERT_FROM_STAGE = (
    f"insert into market.candles_1m_live ({COLUMNS}) select {COLUMNS} from candles_stage"
    + UPSERT_TAIL
)
UPSERT_VALUES = (
    f"insert into market.candles_1m_live ({COLUMNS}) "
    "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)" + UPSERT_TAIL
)
# One statement, one round trip: under a busy feed every round trip waits a whole loop turn.
UPSERT_UNNEST = (
    f"insert into market.candles_1m_live ({COLUMNS}) "
    "select * from unnest(%s::text[], %s::timestamptz[], %s::numeric[], %s::numeric[], "
    "%s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[], %s::bigint[], %s::numeric[], "
    "%s::numeric[], %s::boolean[], %s::bigint[], %s::bigint[], %s::boolean[])" + UPSERT_TAIL
)


# Seconds older than SECOND_CANDLE_RETENTION go, once a minute (upsert_seconds.sql writes
# them). Measured from the newest second held, the data's own time, not the host's clock.
PURGE_SECONDS = (
    "delete from market.candles_1s_live where open_time < "
    "(select max(open_time) from market.candles_1s_live) - make_interval(secs => %s)"
)
# How often the seconds older than SECOND_CANDLE_RETENTION are deleted.
PURGE_INTERVAL_S = 60.0

# market.candles_1m_live is partitioned by day (include/sql/functions/partitions.sql): the
# streamer makes its own coming days once an hour, as Airflow's maintenance does, so a streamer
# running without Airflow keeps writing into days of their own, not the DEFAULT partition.
MAKE_DAYS = (
    "select market.ensure_month_partitions('market.candles_1m_live'::regclass, "
    "date_trunc('day', now()), date_trunc('day', now()) + make_interval(days => %s))"
)
DAYS_INTERVAL_S = 3600.0
# Making a day locks the DEFAULT partition: a reader holding it (a long dbt build) makes the
# streamer try again a minute later instead of holding its writes back.
DAYS_LOCK_TIMEOUT = "1s"
DAYS_RETRY_S = 60.0


def _quoted(value: object) -> str:
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(value: object) -> str:
    return "NULL" if value is None else str(value)


def _flag(value: object) -> str:
    return "t" if value else "f"


# How each column becomes an element of a PostgreSQL array literal: the symbol quoted (any
# text), the open time as ISO 8601, decimal strings and integers as they are, NULL for a
# missing trade id, the flags as t / f.
_ELEMENT = (_quoted, datetime.isoformat, *(str,) * 6, str, str, str, _flag, _plain, _plain, _flag)


def unnest_params(rows: list[tuple], elements: tuple = _ELEMENT) -> list[str]:
    """UPSERT_UNNEST's parameters: each column as one array literal string.

    psycopg adapts a Python list element by element (a regex per element to decide quoting),
    which at ALL cost more than the rest of a trade's path; the literals are joined here in
    one pass per column and parsed by PostgreSQL's array input, the same values exactly.
    """
    return [
        "{" + ",".join(map(fmt, col)) + "}"
        for fmt, col in zip(elements, zip(*rows, strict=True), strict=True)
    ]


HEAL_GAP = """
update market.ingest_gaps set healed_at = now(), healed_by = %s, detail = %s
where symbol = %s and gap_start = %s
"""
NOTE_GAP = "update market.ingest_gaps set detail = %s where symbol = %s and gap_start = %s"


@dataclass(frozen=True)
class GapOp:
    """A change to market.ingest_gaps: record, heal or annotate one gap's row."""

    kind: str
    gap: Gap
    detail: str | None = None
    healed_by: str | None = None

    def execute_args(self, market: Market = SPOT) -> tuple[str, tuple]:
        """The statement and its parameters (over spot's tables: Market.sql moves them)."""
        g = self.gap
        start = ms_to_datetime(g.gap_start)
        if self.kind == "record":
            # Spot's through market.record_gap, a futures market's through record_gap_in.
            name = "upsert_ingest_gap" if market is SPOT else "upsert_ingest_gap_in"
            return load_sql(name), (
                g.symbol,
                start,
                ms_to_datetime(g.gap_end),
                g.first_missing_trade_id,
                g.last_missing_trade_id,
                g.reason,
                self.detail,
            )
        if self.kind == "heal":
            return HEAL_GAP, (self.healed_by, self.detail, g.symbol, start)
        return NOTE_GAP, (self.detail, g.symbol, start)


class Writer:
    """Drains the aggregator's changed candles by size or time; survives database outages."""

    def __init__(
        self,
        database_url: str,
        aggregator: Aggregator,
        metrics: Metrics,
        *,
        flush_interval: float = 0.025,
        max_batch_rows: int = 5000,
        method: str = "unnest",
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        second_retention: float = 2 * 86400.0,
        market: Market = SPOT,
    ) -> None:
        self.database_url = database_url
        # The statements over the market's own tables (spot's exactly as written above).
        self.market = market
        self.sql = market.sql
        self.create_stage, self.make_days_sql = market.sql(CREATE_STAGE), market.sql(MAKE_DAYS)
        self.upsert = {
            "unnest": market.sql(UPSERT_UNNEST),
            "copy": market.sql(UPSERT_FROM_STAGE),
            "values": market.sql(UPSERT_VALUES),
        }
        self.aggregator = aggregator
        self.metrics = metrics
        self.flush_interval = flush_interval
        self.max_batch_rows = max_batch_rows
        self.method = method
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.gap_ops: list[GapOp] = []
        self.conn: psycopg.AsyncConnection | None = None
        # None until the first write: /healthz must not claim the database is down before then.
        self.db_ok: bool | None = None
        self.last_commit = time.monotonic()
        self.last_error: str | None = None
        self.rows_written = 0
        self.seconds_written = 0
        self.second_retention = second_retention
        self.seconds_purged_at = float("-inf")
        self.purge_interval = PURGE_INTERVAL_S
        self.days_due = time.monotonic()
        self._wake = asyncio.Event()

    def add_gap_op(self, op: GapOp) -> None:
        """Queue a gap-table change for the next transaction."""
        self.gap_ops.append(op)
        self._wake.set()

    def lag(self, now: float) -> float:
        """Seconds the oldest uncommitted change has waited."""
        oldest = min(
            (c.pending_since for c in self.aggregator.dirty.values() if c.pending_since),
            default=None,
        )
        if oldest is None:
            return 0.0 if not self.gap_ops else now - self.last_commit
        return max(0.0, now - oldest)

    async def _connection(self) -> psycopg.AsyncConnection:
        if self.conn is None or self.conn.closed:
            self.conn = await psycopg.AsyncConnection.connect(
                self.database_url, connect_timeout=5, application_name="streamer"
            )
            if self.method == "copy":
                await self.conn.execute(self.create_stage)
                await self.conn.commit()
            if not self.db_ok:
                logger.info("database connected")
            self.db_ok = True
        return self.conn

    async def _close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()
            self.conn = None

    async def _write(
        self,
        conn: psycopg.AsyncConnection,
        rows: list[tuple],
        ops: list[GapOp],
        second_rows: list[tuple] | None = None,
        purge: bool = False,
    ) -> None:
        if self.method == "unnest" and not ops and not second_rows and not purge:
            # A single statement is its own transaction: no BEGIN/COMMIT round trips.
            await conn.set_autocommit(True)
            await conn.execute(self.upsert["unnest"], unnest_params(rows))
            return
        await conn.set_autocommit(False)
        async with conn.transaction():
            if rows:
                async with conn.cursor() as cur:
                    if self.method == "copy":
                        async with cur.copy(COPY_STAGE) as copy:
                            for row in rows:
                                await copy.write_row(row)
                        await cur.execute(self.upsert["copy"])
                    elif self.method == "unnest":
                        await cur.execute(self.upsert["unnest"], unnest_params(rows))
                    else:
                        await cur.executemany(self.upsert["values"], rows)
            if ops:
                async with conn.cursor() as cur:
                    for op in ops:
                        statement, params = op.execute_args(self.market)
                        await cur.execute(self.sql(statement), params)
            if second_rows:
                params = unnest_params(second_rows, _ELEMENT[:SECOND_ROW_WIDTH])
                await conn.execute(load_sql("upsert_seconds"), params)
            if purge:
                await conn.execute(PURGE_SECONDS, (self.second_retention,))

    async def flush_once(self) -> int:
        """Write one batch; returns rows written; on failure everything stays queued."""
        batch = self.aggregator.take_batch(self.max_batch_rows)
        ops, self.gap_ops = self.gap_ops, []
        seconds = self.aggregator.seconds
        second_batch = seconds.take_batch(self.max_batch_rows) if seconds.dirty else []
        purge = bool(seconds.symbols) and (
            time.monotonic() - self.seconds_purged_at >= self.purge_interval
        )
        if not batch and not ops and not second_batch and not purge:
            return 0
        started = time.monotonic()
        try:
            conn = await self._connection()
            await self._write(
                conn,
                # The candle's row and how it was made (market.candles_1m_live.from_klines).
                [(*row, c.official) for c, row, _s in batch],
                ops,
                [row for _c, row, _s in second_batch],
                purge,
            )
        except (psycopg.Error, OSError) as exc:
            self.aggregator.requeue(batch)
            seconds.requeue(second_batch)
            self.gap_ops = ops + self.gap_ops
            if self.db_ok or self.last_error != str(exc).strip():
                logger.warning(
                    "database write failed, keeping %d candles in memory: %s",
                    len(self.aggregator.dirty),
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
            self.db_ok = False
            self.last_error = str(exc).strip()
            self.metrics.write_errors += 1
            await self._close()
            raise
        done = time.monotonic()
        self.last_commit = done
        if purge:
            self.seconds_purged_at = done
        if done >= self.days_due:
            await self.make_days(conn)
        self.rows_written += len(batch)
        self.seconds_written += len(second_batch)
        self.metrics.observe_batch(done - started, len(batch), [s for _c, _r, s in batch], done)
        return len(batch)

    async def make_days(self, conn: psycopg.AsyncConnection) -> None:
        """The live table's coming days (MAKE_DAYS); a failure only delays the next try."""
        self.days_due = time.monotonic() + DAYS_INTERVAL_S
        try:
            await conn.set_autocommit(False)
            async with conn.transaction():
                await conn.execute(
                    "select set_config('lock_timeout', %s, true)", (DAYS_LOCK_TIMEOUT,)
                )
                await conn.execute(self.make_days_sql, (LIVE_DAYS_AHEAD + 1,))
        except psycopg.errors.LockNotAvailable:
            self.days_due = time.monotonic() + DAYS_RETRY_S
            logger.info("the live table's coming days wait: its DEFAULT partition is in use")
        except psycopg.Error as exc:
            text = str(exc).strip()
            logger.warning(
                "could not make the live table's coming days: %s",
                text.splitlines()[0] if text else type(exc).__name__,
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_interval`` (sooner when a batch is full) until ``stop``."""
        backoff = self._backoff()
        while not stop.is_set():
            cycle_started = time.monotonic()
            try:
                written = await self.flush_once()
                backoff.reset()
            except (psycopg.Error, OSError):
                await _wait(stop, backoff.next())
                continue
            if written >= self.max_batch_rows:
                continue
            self._wake.clear()
            # A fixed cadence: the write's own time counts against the interval, so a trade
            # waits at most one interval plus one write, not a write plus a full interval.
            await _wait(stop, max(0.0, self.flush_interval - (time.monotonic() - cycle_started)))

    async def drain(self, seconds: float) -> bool:
        """Write everything still queued (shutdown); False if the database stayed away."""
        deadline = time.monotonic() + seconds
        backoff = self._backoff()
        while self.aggregator.dirty or self.aggregator.seconds.dirty or self.gap_ops:
            try:
                await self.flush_once()
                backoff.reset()
            except (psycopg.Error, OSError):
                delay = backoff.next()
                if time.monotonic() + delay > deadline:
                    return False
                await asyncio.sleep(delay)
        await self._close()
        return True

    def _backoff(self) -> Backoff:
        # No jitter: there is one writer, nothing to spread out.
        return Backoff(self.backoff_initial, self.backoff_max, jitter=False)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
