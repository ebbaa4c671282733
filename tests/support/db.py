"""Databases the tests make on the session's PostgreSQL, and who writes a table."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql

from include.platform import db, pgserver

TEMPLATE_DB = "platform_template"
# DESIGN.md's candle columns and their types, in every candle table (live, official, marts).
CANDLE_COLUMN_TYPES = {
    "symbol": "text",
    "open_time": "timestamp with time zone",
    "open": "numeric",
    "high": "numeric",
    "low": "numeric",
    "close": "numeric",
    "volume": "numeric",
    "quote_volume": "numeric",
    "trade_count": "bigint",
    "taker_buy_volume": "numeric",
    "taker_buy_quote_volume": "numeric",
}
AIRFLOW_DB = "airflow"
# Numbers the databases the tests create, so their names stay unique within a process.
database_numbers = itertools.count()
# The databases (the server's URL, the name) this process's tests made and are done with:
# tests/conftest.py hands them to drop_spent as each module ends.
spent: list[tuple[str, str]] = []


def create_database(server: pgserver.PgServer, name: str, template: str | None) -> str:
    """Create a database (optionally from a template) and return its URL."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(query)
    return server.url(name)


def drop_databases(databases: list[tuple[str, str]]) -> None:
    """Drop the databases (the server's URL, the name), connections left open included."""
    for server_url, name in databases:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


# One thread drops them, beside the tests, in batches: every DROP DATABASE forces an immediate
# checkpoint (fsync on), and tests waiting for one per test made the fast tier 45 s longer (one
# per module, on this thread: 20 s; a batch of 150: none). A batch is about 1.2 GB of data
# directory a worker holds at most.
_dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-databases")
SPENT_BATCH = 80


def drop_spent() -> None:
    """Hand the spent databases to the dropping thread, once there are a batch of them."""
    if len(spent) >= SPENT_BATCH:
        _dropper.submit(drop_databases, spent.copy())
        spent.clear()


def wait_for_drops() -> None:
    """Let the dropping thread finish (before its server stops). A drop that failed leaves
    only its database behind, deleted with the session's server."""
    _dropper.shutdown(wait=True)


def record_writers(conn: psycopg.Connection, table: str) -> Callable[[], set[str]]:
    """Record the login role (session_user) of every statement that writes the table, with a
    test-only trigger; the returned function gives the roles seen so far."""
    conn.execute(
        "create table if not exists public.test_writers (tbl text not null, writer text not null)"
    )
    conn.execute(
        "create or replace function public.record_writer() returns trigger "
        "language plpgsql security definer as $$ begin "
        "insert into public.test_writers values (tg_table_schema || '.' || tg_table_name, "
        "session_user); return null; end $$"
    )
    conn.execute(
        sql.SQL(
            "create trigger record_writer after insert or update or delete on {} "
            "for each statement execute function public.record_writer()"
        ).format(sql.Identifier(*table.split(".")))
    )
    url, password = conn.info.dsn, conn.info.password

    def writers() -> set[str]:
        with psycopg.connect(url, password=password) as reader:
            rows = reader.execute("select writer from public.test_writers where tbl = %s", (table,))
            return {row[0] for row in rows}

    return writers


def function_rights(conn: psycopg.Connection, signature: str) -> tuple[bool, dict[str, bool]]:
    """Whether the function runs as its definer, and which of the platform's four roles may
    execute it (a role's own grant or PUBLIC's)."""
    [definer] = conn.execute(
        "select prosecdef from pg_proc where oid = %s::regprocedure", (signature,)
    ).fetchone()
    may = {
        role: conn.execute(
            "select has_function_privilege(%s, %s, 'EXECUTE')", (role, signature)
        ).fetchone()[0]
        for role in (db.STREAMER, db.LOADER, db.BUILDER, db.READER)
    }
    return definer, may
