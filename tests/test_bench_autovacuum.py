"""The storage bench's autovacuum rule (bench/scale/autovacuum.py): it vacuums a table exactly
when PostgreSQL's autovacuum would, by the server's thresholds or the table's own reloptions,
so the live month's bytes are the ones a running platform's tables would have."""

from __future__ import annotations

import psycopg

from bench.scale.autovacuum import Autovacuum


def _vacuums(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(
        "select vacuum_count from pg_stat_user_tables where relid = %s::regclass", (table,)
    ).fetchone()[0]


def _churn(conn: psycopg.Connection, table: str, rows: int, dead: int) -> None:
    conn.execute(f"create table {table} (id int primary key, v int)")
    conn.execute(f"insert into {table} select g, g from generate_series(1, {rows}) as g")
    conn.execute(f"vacuum analyze {table}")  # reltuples = rows, counters from zero
    conn.execute(f"update {table} set v = v + 1 where id <= {dead}")
    conn.execute("select pg_stat_force_next_flush()")
    conn.execute("select 1")  # the flush happens once the statement before it ended


def test_vacuums_past_the_threshold_only(conn: psycopg.Connection) -> None:
    # 50 + 0.2 x 1,000 = 250 dead rows is the server's default limit.
    _churn(conn, "bench_below", 1000, 200)
    _churn(conn, "bench_above", 1000, 300)
    rule = Autovacuum()
    rule.run(conn)
    assert (_vacuums(conn, "bench_below"), _vacuums(conn, "bench_above")) == (1, 2)
    assert rule.vacuums >= 1


def test_reads_the_tables_own_reloptions(conn: psycopg.Connection) -> None:
    _churn(conn, "bench_eager", 1000, 20)
    _churn(conn, "bench_off", 1000, 900)
    conn.execute("alter table bench_eager set (autovacuum_vacuum_scale_factor = 0.01)")
    conn.execute("alter table bench_off set (autovacuum_enabled = false)")
    Autovacuum().run(conn)
    # 20 dead rows stay below 50 + 0.01 x 1,000 = 60; a table turned off is never vacuumed.
    assert (_vacuums(conn, "bench_eager"), _vacuums(conn, "bench_off")) == (1, 1)
    # 5 + 0.01 x 1,000 = 15 < 20.
    conn.execute("alter table bench_eager set (autovacuum_vacuum_threshold = 5)")
    Autovacuum().run(conn)
    assert _vacuums(conn, "bench_eager") == 2
