"""Partitions of the candle tables (migration 0011): made ahead, and live retention.

Every candle table is RANGE-partitioned on open_time with a DEFAULT partition, so an insert
never fails: by month, except market.candles_1m_live, by day (so the retention can drop a day
as soon as it is a copy). What keeps the DEFAULT partition empty (and each month or day in a
table of its own) is making them before rows arrive:

- the loaders call ``ensure_range`` for the minutes they are about to write (a backfill or a
  dump of 2017 creates 2017's months first);
- ``maintain`` (run by ``migrate`` at every start, before every ``build-timeframes`` run, which
  the build_timeframes DAG does every 5 minutes, after each day's klines in
  binance_backfill_rest, and by ``python -m include.cli partitions``) creates the current month
  and the next ones (the live table: today and the next days), moves anything the DEFAULT
  partitions hold into partitions of their own; all but ``build-timeframes`` also apply the live
  retention (``LIVE_RETENTION_DAYS``, 7 days unless set): a live day whose every minute has its
  official kline is dropped once it ended that long ago.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import errors

from include.platform.intervals import STORED
from include.platform.markets import FUTURES
from include.platform.settings import Settings, get_settings

logger = logging.getLogger(__name__)

MARKET_TABLES = ("market.klines_1m", "market.candles_1m_live")
# A futures market's partitioned tables (migration 0023), in its own raw schema.
FUTURES_TABLES = (
    "klines_1m",
    "candles_1m_live",
    "mark_price_klines_1m",
    "index_price_klines_1m",
    "premium_index_klines_1m",
)
TIMEFRAMES = STORED  # the marts, partitioned like the market tables
MONTHS_AHEAD = 3
LIVE = "market.candles_1m_live"
# The live table's days made ahead, by this maintenance (at start, every 5 minutes under Airflow)
# and by the streamer itself (every hour): few, as every statement on the live table that is not
# bounded above plans and opens each of them.
LIVE_DAYS_AHEAD = 3
# How long maintenance waits for a lock on the live table: dropping a day locks it whole, and
# writers queue behind a drop that waits, so a reader holding it (a long dbt build) defers the
# work to the next run instead of stalling the streamer's writes.
LIVE_LOCK_TIMEOUT = "3s"


@dataclass
class Maintenance:
    """What one maintenance pass did."""

    created: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    # Live days past the retention kept: a minute of them has no official kline yet.
    kept: list[str] = field(default_factory=list)
    # Maintenance waited LIVE_LOCK_TIMEOUT for the live table in vain: what it was doing there
    # (its days ahead, or the retention) is left to the next run.
    deferred: bool = False


def live_retention_days(settings: Settings | None = None) -> int | None:
    """LIVE_RETENTION_DAYS as a positive number of days (7 unless set), or None (0: keep all)."""
    return (settings or get_settings()).live_retention_days


def is_partitioned(conn: psycopg.Connection, table: str) -> bool:
    """Whether the table exists and is partitioned."""
    row = conn.execute(
        "select exists (select from pg_partitioned_table where partrelid = to_regclass(%s))",
        (table,),
    ).fetchone()
    return bool(row and row[0])


def ensure_range(conn: psycopg.Connection, table: str, start: datetime, end: datetime) -> int:
    """Create the months (the live table: days) of [start, end) that the table has no partition
    for; how many."""
    row = conn.execute(
        "select market.ensure_month_partitions(%s::regclass, %s, %s)", (table, start, end)
    ).fetchone()
    return int(row[0]) if row else 0


def partitioned_tables(conn: psycopg.Connection) -> list[str]:
    """The market tables and the analytics marts that are partitioned by month, every market's."""
    candidates = [
        *MARKET_TABLES,
        *(f"analytics.candles_{tf}" for tf in TIMEFRAMES),
        *(m.table(t) for m in FUTURES for t in FUTURES_TABLES),
        *(f"{m.timeframes_schema}.candles_{tf}" for m in FUTURES for tf in TIMEFRAMES),
    ]
    return [t for t in candidates if is_partitioned(conn, t)]


def makes_months_of(conn: psycopg.Connection, table: str) -> bool:
    """Whether this connection makes the table's months: it owns the table, or the table is the
    administrator's (market.make_trusted_month_partitions). The marts are dbt_builder's, and
    their months are made by its builds, never by the administrator's hand: a trigger or check
    dbt_builder put there would run with the administrator's rights."""
    row = conn.execute(
        "select case when to_regprocedure("
        "'market.make_trusted_month_partitions(regclass,timestamptz,timestamptz)') is null "
        "then true else c.relowner = (select oid from pg_roles where rolname = current_user) "
        "or c.relowner = (select proowner from pg_proc where oid = to_regprocedure("
        "'market.make_trusted_month_partitions(regclass,timestamptz,timestamptz)')) "
        "end from pg_class as c where c.oid = %s::regclass",
        (table,),
    ).fetchone()
    return bool(row and row[0])


def may_drop_live_months(conn: psycopg.Connection) -> bool:
    """Whether this connection's role may run the live retention: the administrator, and
    history_loader (include/sql/grants.sql)."""
    row = conn.execute(
        "select has_function_privilege("
        "'market.drop_live_partitions(timestamptz)'::regprocedure, 'execute')"
    ).fetchone()
    return bool(row and row[0])


def maintain(
    conn: psycopg.Connection,
    *,
    now: datetime | None = None,
    months_ahead: int = MONTHS_AHEAD,
    retention_days: int | None = None,
) -> Maintenance:
    """Months (days) ahead for every partitioned table, DEFAULT partitions emptied, live
    retention."""
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    this_month = today.replace(day=1)
    until = this_month
    for _ in range(months_ahead + 1):
        until = (until + timedelta(days=32)).replace(day=1)
    done = Maintenance()
    for table in partitioned_tables(conn):
        if not makes_months_of(conn, table):
            continue
        if not table.endswith(".candles_1m_live"):
            with conn.transaction():
                done.created[table] = make_ahead(conn, table, this_month, until)
            continue
        try:
            with bounded_waits(conn):
                done.created[table] = make_ahead(
                    conn, table, today, today + timedelta(days=LIVE_DAYS_AHEAD + 1)
                )
        except errors.LockNotAvailable:
            done.created[table] = 0
            done.deferred = True
            logger.warning("%s stayed in use for %s: its days ahead wait", table, LIVE_LOCK_TIMEOUT)
    if retention_days and not may_drop_live_months(conn):
        logger.warning(
            "LIVE_RETENTION_DAYS=%d is not applied: %s may not drop live days "
            "(the administrator's migrate and history_loader's daily backfill do)",
            retention_days,
            conn.info.user,
        )
    elif retention_days:
        apply_retention(conn, now - timedelta(days=retention_days), done)
        for name in done.dropped:
            logger.info("live retention (%d days): dropped %s", retention_days, name)
        for name in done.kept:
            logger.warning(
                "live retention (%d days): kept %s, a minute of it has no official kline in "
                "market.klines_1m (backfill it, and the day goes at the next run)",
                retention_days,
                name,
            )
    return done


def make_ahead(conn: psycopg.Connection, table: str, start: datetime, end: datetime) -> int:
    """The partitions of [start, end), and the DEFAULT partition's rows moved into their own."""
    made = ensure_range(conn, table, start, end)
    row = conn.execute("select market.split_default_partition(%s::regclass)", (table,)).fetchone()
    return made + (int(row[0]) if row else 0)


@contextlib.contextmanager
def bounded_waits(conn: psycopg.Connection) -> Iterator[None]:
    """A transaction whose lock waits give up after LIVE_LOCK_TIMEOUT (LockNotAvailable)."""
    with conn.transaction():
        # For these statements only (the caller's transaction may go on after them).
        before = conn.execute(
            "select current_setting('lock_timeout'), set_config('lock_timeout', %s, true)",
            (LIVE_LOCK_TIMEOUT,),
        ).fetchone()[0]
        yield
        conn.execute("select set_config('lock_timeout', %s, true)", (before,))


def apply_retention(conn: psycopg.Connection, cutoff: datetime, done: Maintenance) -> None:
    """Drop the live days ended by cutoff whose minutes all have their klines (none when the
    live table stays in use for LIVE_LOCK_TIMEOUT: ``done.deferred``)."""
    try:
        with bounded_waits(conn):
            done.dropped = [
                row[0] for row in conn.execute("select market.drop_live_partitions(%s)", (cutoff,))
            ]
    except errors.LockNotAvailable:
        done.deferred = True
        logger.warning(
            "live retention deferred: %s stayed in use for %s (the next run drops its days)",
            LIVE,
            LIVE_LOCK_TIMEOUT,
        )
        return
    # As the function clamps it: the newest day is never dropped.
    cutoff = min(cutoff, datetime.now(UTC) - timedelta(days=1))
    with conn.transaction():
        done.kept = [
            row[0]
            for row in conn.execute(
                "select partition::text from market.month_partitions(%s) "
                "where month_end <= %s order by month_start",
                (LIVE, cutoff),
            )
        ]
