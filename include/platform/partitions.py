"""Monthly partitions of the candle tables (migration 0011): made ahead, and live retention.

Every candle table is RANGE-partitioned by month on open_time with a DEFAULT partition, so an
insert never fails. What keeps the DEFAULT partition empty (and each month in a table of its
own) is making the months before rows arrive:

- the loaders call ``ensure_range`` for the minutes they are about to write (a backfill or a
  dump of 2017 creates 2017's months first);
- ``maintain`` (run by ``migrate`` at every start, before every ``build-timeframes`` run, which
  the build_timeframes DAG does every 5 minutes, and by ``python -m include.cli partitions``)
  creates the current month and the next ones, moves anything the DEFAULT partitions hold
  into months of their own; ``migrate`` and ``partitions`` also apply the live retention
  (``LIVE_RETENTION_DAYS``, 7 days unless set): a live month whose every minute has its
  official kline is dropped once it ended that long ago.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from include.platform.intervals import STORED
from include.platform.settings import Settings, get_settings

logger = logging.getLogger(__name__)

MARKET_TABLES = ("market.klines_1m", "market.candles_1m_live")
TIMEFRAMES = STORED  # the marts, partitioned like the market tables
MONTHS_AHEAD = 3


@dataclass
class Maintenance:
    """What one maintenance pass did."""

    created: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    # Live months past the retention kept: a minute of them has no official kline yet.
    kept: list[str] = field(default_factory=list)


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
    """Create the months of [start, end) that the table has no partition for; how many."""
    row = conn.execute(
        "select market.ensure_month_partitions(%s::regclass, %s, %s)", (table, start, end)
    ).fetchone()
    return int(row[0]) if row else 0


def partitioned_tables(conn: psycopg.Connection) -> list[str]:
    """The market tables and the analytics marts that are partitioned by month."""
    candidates = [*MARKET_TABLES, *(f"analytics.candles_{tf}" for tf in TIMEFRAMES)]
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
    """Whether this connection's role may run the live retention (migration 0011's grants)."""
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
    """Months ahead for every partitioned table, DEFAULT partitions emptied, live retention."""
    now = now or datetime.now(UTC)
    this_month = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    until = this_month
    for _ in range(months_ahead + 1):
        until = (until + timedelta(days=32)).replace(day=1)
    done = Maintenance()
    for table in partitioned_tables(conn):
        if not makes_months_of(conn, table):
            continue
        with conn.transaction():
            made = ensure_range(conn, table, this_month, until)
            made += conn.execute(
                "select market.split_default_partition(%s::regclass)", (table,)
            ).fetchone()[0]
        done.created[table] = made
    if retention_days and not may_drop_live_months(conn):
        logger.warning(
            "LIVE_RETENTION_DAYS=%d is not applied: %s may not drop live months "
            "(only the administrator's migrate and build-timeframes may)",
            retention_days,
            conn.info.user,
        )
    elif retention_days:
        cutoff = now - timedelta(days=retention_days)
        with conn.transaction():
            done.dropped = [
                row[0] for row in conn.execute("select market.drop_live_partitions(%s)", (cutoff,))
            ]
            done.kept = [
                row[0]
                for row in conn.execute(
                    "select partition::text from market.month_partitions("
                    "'market.candles_1m_live') where month_end <= %s order by month_start",
                    (cutoff,),
                )
            ]
        for name in done.dropped:
            logger.info("live retention (%d days): dropped %s", retention_days, name)
        for name in done.kept:
            logger.warning(
                "live retention (%d days): kept %s, a minute of it has no official kline in "
                "market.klines_1m (backfill it, and the month goes at the next start)",
                retention_days,
                name,
            )
    return done
