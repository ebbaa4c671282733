"""Index rebuilds of the candle tables' finished months (migration 0025).

A month's primary key ``(symbol, open_time)`` filled a day (or a backfill's chunk) at a time per
symbol grows by splitting pages in the middle of the index; PostgreSQL keeps the left half of
such a split full only for keys of at most two int8 (a symbol of 7 characters or fewer), so a
month of longer symbols, as most of Binance's are, ends with its pages about half full
(docs/architecture.md "Storage"). Once nothing writes a month any more, one ``REINDEX TABLE
CONCURRENTLY`` of its partition packs it: readers and writers go on meanwhile.

Who rebuilds what, each as its own role: history_loader the klines' months, after each day's
klines (binance_backfill_rest's ``rebuild_indexes``), through PostgreSQL 17+'s MAINTAIN on each
month (on an older server it may not, and says so); dbt_builder its marts' months, after its
builds (build_timeframes' ``rebuild_indexes``). A month is rebuilt once it ended SETTLE ago, and
again after writes as many as a tenth of its rows (a backfill of a new symbol, say), at most
once a day; a run starts no rebuild after BUDGET, and leaves the rest to the next.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import errors, sql

from include.sql import load_sql

logger = logging.getLogger(__name__)

# A month's last day has its klines at 00:01 the next day: the run a day later finds it over.
SETTLE = timedelta(days=1)
# Writes since the last rebuild, as a share of the month's rows, that make it due again.
AGAIN_SHARE = 0.10
AGAIN_AFTER = timedelta(days=1)
# No rebuild starts after this long in one run (a month of 2,000 symbols takes minutes).
BUDGET = timedelta(minutes=10)
# The advisory lock a rebuild of a month holds (with the partition's oid).
CLAIM = "market.partition_rebuilds"
# The tables whose months are rebuilt: every market's klines and marts (the live table's days
# are dropped, not rebuilt).
KLINES = ("klines_1m", "mark_price_klines_1m", "index_price_klines_1m", "premium_index_klines_1m")

MONTHS = load_sql("select_rebuild_months")
RECORD = load_sql("upsert_partition_rebuild")
FAILED = load_sql("select_failed_rebuilds")
INVALID = "select exists (select from pg_index where indrelid = %s::regclass and not indisvalid)"


@dataclass
class Rebuilt:
    """One month rebuilt: its index bytes before and after."""

    relation: str
    before: int
    after: int
    seconds: float


@dataclass
class Rebuilds:
    """What one run did and left."""

    rebuilt: list[Rebuilt] = field(default_factory=list)
    # Due, but the run's BUDGET was spent, or another run is rebuilding it: the next run's.
    left: list[str] = field(default_factory=list)
    # Due, but an invalid index of a failed rebuild is on it, which only its owner drops.
    blocked: list[str] = field(default_factory=list)
    # Tables of this run whose months this role may not rebuild (PostgreSQL before 17).
    unable: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "rebuilt": {r.relation: [r.before, r.after] for r in self.rebuilt},
            "left": self.left,
            "blocked": self.blocked,
            "unable": self.unable,
        }


def tables_of(conn: psycopg.Connection, kind: str) -> list[str]:
    """Every market's partitioned klines tables (kind 'klines') or marts ('marts')."""
    from include.platform.partitions import partitioned_tables

    tables = partitioned_tables(conn)
    if kind == "klines":
        return [t for t in tables if t.split(".")[1] in KLINES]
    return [t for t in tables if t.startswith("analytics")]


def drop_failed(conn: psycopg.Connection) -> list[str]:
    """Drop the invalid indexes failed rebuilds left on the months this role owns (conn in
    autocommit). A rebuild still under way holds its table: its new index is left to it."""
    dropped = []
    failed = [index for (index,) in conn.execute(FAILED).fetchall()]
    if not failed:
        return dropped
    before = conn.execute("select current_setting('lock_timeout')").fetchone()[0]
    conn.execute("select set_config('lock_timeout', '1s', false)")
    try:
        for index in failed:
            try:
                conn.execute(sql.SQL("drop index concurrently if exists {}").format(sql.SQL(index)))
            except errors.LockNotAvailable:
                continue
            logger.warning("dropped %s, left invalid by a rebuild that failed", index)
            dropped.append(index)
    finally:
        conn.execute("select set_config('lock_timeout', %s, false)", (before,))
    return dropped


def index_bytes(conn: psycopg.Connection, relation: str) -> int:
    """The bytes of a table's indexes."""
    return int(conn.execute("select pg_indexes_size(%s::regclass)", (relation,)).fetchone()[0])


def due(row: tuple, now: datetime) -> bool:
    """Whether a month is due: never rebuilt, or written a tenth of its rows since, a day ago."""
    _, writes, rows, then, rebuilt_at = row
    if rows <= 0:
        return False
    if then is None:
        return True
    return writes - then > AGAIN_SHARE * rows and rebuilt_at <= now - AGAIN_AFTER


def rebuild_finished_months(
    conn: psycopg.Connection,
    tables: list[str],
    *,
    now: datetime | None = None,
    budget: timedelta = BUDGET,
) -> Rebuilds:
    """Rebuild the indexes of the tables' finished months that are due (conn in autocommit:
    REINDEX CONCURRENTLY runs outside a transaction)."""
    now = now or datetime.now(UTC)
    started = time.monotonic()
    done = Rebuilds()
    drop_failed(conn)
    server = int(conn.execute("select current_setting('server_version_num')").fetchone()[0])
    for table in tables:
        rows = conn.execute(MONTHS, {"table": table, "settled": now - SETTLE}).fetchall()
        if not rows and server < 170000 and not owns(conn, table):
            done.unable.append(table)
            continue
        for row in rows:
            relation, writes, _, then, last = row
            if then is not None and writes < then:
                # The statistics were reset (a crash, pg_stat_reset): count on from here.
                record(conn, relation, writes, None)
                continue
            if not due(row, now):
                continue
            if time.monotonic() - started > budget.total_seconds():
                done.left.append(relation)
                continue
            rebuild_due(conn, relation, writes, last, done)
    for table in done.unable:
        logger.warning(
            "%s's finished months keep their indexes as loaded: %s may not rebuild them on "
            "PostgreSQL before 17 (MAINTAIN); its owner can (`REINDEX TABLE CONCURRENTLY`)",
            table,
            conn.info.user,
        )
    return done


def rebuild_due(
    conn: psycopg.Connection, relation: str, writes: int, last: datetime | None, done: Rebuilds
) -> None:
    """Rebuild a due month, unless another run holds it or rebuilt it since this one looked
    (binance_backfill_rest runs up to 4 at once: nothing done twice), or an invalid index a
    failed rebuild left is on it (only its owner may drop it)."""
    with claimed(conn, relation) as mine:
        if not mine or rebuilt_at(conn, relation) != last:
            done.left.append(relation)
            return
        # Checked once the month is this run's: another run's rebuild under way holds an
        # invalid new index too, until it is done.
        if conn.execute(INVALID, (relation,)).fetchone()[0]:
            done.blocked.append(relation)
            logger.warning(
                "%s is due for an index rebuild but holds an invalid index a failed one left: "
                "its owner drops it (`python -m include.cli migrate`)",
                relation,
            )
            return
        done.rebuilt.append(rebuild(conn, relation, writes))


@contextlib.contextmanager
def claimed(conn: psycopg.Connection, relation: str) -> Iterator[bool]:
    """Whether this session holds the month's rebuild (a session advisory lock, not waited
    for), released when the block ends."""
    key = (CLAIM, relation)
    row = conn.execute(
        "select pg_try_advisory_lock(hashtext(%s), %s::regclass::oid::integer)", key
    ).fetchone()
    try:
        yield bool(row and row[0])
    finally:
        if row and row[0]:
            conn.execute("select pg_advisory_unlock(hashtext(%s), %s::regclass::oid::integer)", key)


def rebuilt_at(conn: psycopg.Connection, relation: str) -> datetime | None:
    """When the month's indexes were last rebuilt, as recorded now."""
    row = conn.execute(
        "select rebuilt_at from market.partition_rebuilds "
        "where relid = %s::regclass and relation = %s",
        (relation, relation),
    ).fetchone()
    return row[0] if row else None


def owns(conn: psycopg.Connection, table: str) -> bool:
    """Whether this role owns the table (or is a member of its owner)."""
    row = conn.execute(
        "select pg_has_role(relowner, 'MEMBER') from pg_class where oid = %s::regclass", (table,)
    ).fetchone()
    return bool(row and row[0])


def rebuild(conn: psycopg.Connection, relation: str, writes: int) -> Rebuilt:
    """REINDEX TABLE CONCURRENTLY one month, recorded."""
    before = index_bytes(conn, relation)
    began = time.perf_counter()
    conn.execute(sql.SQL("reindex table concurrently {}").format(sql.SQL(relation)))
    seconds = time.perf_counter() - began
    done = Rebuilt(relation, before, index_bytes(conn, relation), seconds)
    record(conn, relation, writes, done)
    logger.info(
        "rebuilt %s's indexes in %.1f s: %.1f -> %.1f MB",
        relation,
        seconds,
        before / 1e6,
        done.after / 1e6,
    )
    return done


def record(conn: psycopg.Connection, relation: str, writes: int, done: Rebuilt | None) -> None:
    """The month's row: a rebuild, or (done None) the writes counted on after a reset."""
    if done is None:
        conn.execute(
            "update market.partition_rebuilds set writes = %s where relid = %s::regclass",
            (writes, relation),
        )
        return
    conn.execute(RECORD, (relation, relation, writes, done.before, done.after, done.seconds))
