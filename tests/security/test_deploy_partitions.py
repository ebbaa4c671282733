"""A writer role cannot make the candle tables' partitions by the thousand in one call
(issue #42, item 13): market.ensure_month_partitions, as the roles call it."""

from __future__ import annotations

import psycopg
import pytest

from include.platform import db

COUNT = (
    "select count(*) from pg_inherits as i join pg_class as c on c.oid = i.inhrelid "
    "where i.inhparent = %s::regclass"
)
ENSURE = "select market.ensure_month_partitions(%s::regclass, %s, %s)"


def partitions(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(COUNT, (table,)).fetchone()[0]


@pytest.mark.parametrize(
    ("role", "table", "start", "end"),
    [
        # 425 days of the live table in one call (the issue: 100 years, 36,500 tables).
        (db.STREAMER, "market.candles_1m_live", "2031-01-01", "2032-03-01"),
        (db.LOADER, "market.candles_1m_live", "2031-01-01", "2031-02-15"),
        # 25 years of months.
        (db.LOADER, "market.klines_1m", "2040-01-01", "2065-01-01"),
    ],
)
def test_a_writer_is_refused_a_huge_range_and_nothing_is_made(
    conn: psycopg.Connection, role: str, table: str, start: str, end: str
) -> None:
    """The call fails at once (program_limit_exceeded, naming the range) and the table has the
    partitions it had."""
    before = partitions(conn, table)
    conn.execute("set statement_timeout = '30s'")
    conn.execute(f"set role {role}")
    try:
        with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="partition range too long"):
            conn.execute(ENSURE, (table, start, end))
    finally:
        conn.execute("reset role")
    assert partitions(conn, table) == before


@pytest.mark.parametrize(
    ("role", "table", "start", "end", "made"),
    [
        # The streamer's own days ahead, and the loader's two years of history.
        (db.STREAMER, "market.candles_1m_live", "2031-01-01", "2031-01-05", 4),
        (db.LOADER, "market.klines_1m", "2040-01-01", "2042-01-01", 24),
    ],
)
def test_a_writer_still_makes_what_it_needs(
    conn: psycopg.Connection, role: str, table: str, start: str, end: str, made: int
) -> None:
    """Within the cap, a writer's call makes its partitions as before."""
    conn.execute(f"set role {role}")
    try:
        assert conn.execute(ENSURE, (table, start, end)).fetchone()[0] == made
    finally:
        conn.execute("reset role")
