"""deploy/citus/distribute.sql: what it distributes would be accepted by Citus, table by table."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from tests.support.paths import PROJECT_ROOT

SCRIPT = (PROJECT_ROOT / "deploy" / "citus" / "distribute.sql").read_text()
DISTRIBUTED = re.findall(r"create_distributed_table\('([\w.]+)', 'symbol'", SCRIPT)
REFERENCE = re.findall(r"create_reference_table\('([\w.]+)'\)", SCRIPT)
DROPPED_TRIGGERS = set(re.findall(r"drop trigger if exists (\w+) on ([\w.]+);", SCRIPT))
LOCAL = re.findall(r"^--\s+(\w+\.\w+):", SCRIPT.split("Stay on the coordinator", 1)[1], re.M)


def tables(conn: psycopg.Connection, *schemas: str) -> set[str]:
    rows = conn.execute(
        "select n.nspname || '.' || c.relname from pg_class as c "
        "join pg_namespace as n on n.oid = c.relnamespace "
        # A monthly partition follows its parent (Citus distributes a partitioned table whole).
        "where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = any(%s)",
        (list(schemas),),
    ).fetchall()
    return {name for (name,) in rows}


def unique_indexes_without_symbol(conn: psycopg.Connection, table: str) -> list[str]:
    """Unique indexes and constraints (primary keys, partial ones too) that lack symbol."""
    rows = conn.execute(
        "select i.indexrelid::regclass::text from pg_index as i "
        "where i.indrelid = %s::regclass and i.indisunique and not exists ("
        "  select 1 from pg_attribute as a where a.attrelid = i.indrelid "
        "  and a.attname = 'symbol' and a.attnum = any(i.indkey))",
        (table,),
    ).fetchall()
    return [name for (name,) in rows]


def symbol_type(conn: psycopg.Connection, table: str) -> str | None:
    row = conn.execute(
        "select format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = %s::regclass and attname = 'symbol' and not attisdropped",
        (table,),
    ).fetchone()
    return row[0] if row else None


def check_distributable(conn: psycopg.Connection, table: str) -> list[str]:
    """What Citus would refuse in create_distributed_table(table, 'symbol', colocated)."""
    problems = []
    if symbol_type(conn, table) != "text":
        problems.append(f"{table}: symbol is {symbol_type(conn, table)}, not text")
    for index in unique_indexes_without_symbol(conn, table):
        problems.append(f"{table}: unique index {index} lacks symbol")
    triggers = conn.execute(
        "select tgname from pg_trigger where tgrelid = %s::regclass and not tgisinternal",
        (table,),
    ).fetchall()
    for (name,) in triggers:
        if (name, table) not in DROPPED_TRIGGERS:
            problems.append(f"{table}: trigger {name} is neither dropped nor allowed")
    exclusions = conn.execute(
        "select conname from pg_constraint where conrelid = %s::regclass and contype = 'x'",
        (table,),
    ).fetchall()
    problems += [f"{table}: exclusion constraint {name}" for (name,) in exclusions]
    return problems


def foreign_keys(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select conname, confrelid::regclass::text from pg_constraint "
        "where contype = 'f' and (conrelid = %s::regclass or confrelid = %s::regclass)",
        (table, table),
    ).fetchall()


@pytest.mark.parametrize("schema", ["market", "market_usdm", "market_coinm"])
def test_every_market_table_is_placed_once(conn: psycopg.Connection, schema: str) -> None:
    """Each table the migrations create in a market's raw schema (spot's, each futures
    market's) is distributed, a reference table, or named as staying on the coordinator,
    exactly once."""
    placed = DISTRIBUTED + REFERENCE + [t for t in LOCAL if t.startswith(f"{schema}.")]
    assert len(placed) == len(set(placed)), placed
    assert {t for t in placed if t.startswith(f"{schema}.")} == tables(conn, schema)


def test_distributed_market_tables_have_symbol_in_every_unique_key(
    conn: psycopg.Connection,
) -> None:
    """Every market table the script distributes by symbol has symbol (text, the type the
    co-located tables share) in its primary key and every unique index, no trigger the script
    leaves, no exclusion constraint and no foreign key, and no reference table has a trigger or
    a foreign key, so Citus accepts them."""
    market = [t for t in DISTRIBUTED if t.startswith("market")]
    assert {"market.klines_1m", "market_usdm.klines_1m", "market_coinm.funding_rates"} <= set(
        market
    )
    problems = [p for table in market for p in check_distributable(conn, table)]
    assert problems == []
    for table in market + REFERENCE:
        assert foreign_keys(conn, table) == [], table
    for table in REFERENCE:
        triggers = conn.execute(
            "select tgname from pg_trigger where tgrelid = %s::regclass and not tgisinternal",
            (table,),
        ).fetchall()
        assert triggers == [], table


def test_coordinator_keeps_the_live_push(conn: psycopg.Connection) -> None:
    """The live table stays on the coordinator with its NOTIFY triggers (LISTEN/NOTIFY works
    only there); the triggers the script drops exist, so its drops are not stale."""
    assert "market.candles_1m_live" in LOCAL
    live = conn.execute(
        "select count(*) from pg_trigger where tgrelid = 'market.candles_1m_live'::regclass "
        "and not tgisinternal and tgnewtable is not null"
    ).fetchone()[0]
    assert live >= 1
    for name, table in DROPPED_TRIGGERS:
        found = conn.execute(
            "select 1 from pg_trigger where tgrelid = %s::regclass and tgname = %s",
            (table, name),
        ).fetchone()
        assert found, (name, table)


@pytest.mark.slow
def test_analytics_tables_dbt_builds_are_distributable(
    database_url: str, conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a real dbt build, every analytics table is distributed by the script, co-located
    with the klines, and has symbol in each unique index dbt created."""
    from include.timeframes import build_timeframes

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt_target"))
    build_timeframes(database_url, unit_tests=False)
    built = tables(conn, "analytics")
    assert built == {t for t in DISTRIBUTED if t.startswith("analytics.")}
    colocated = re.findall(
        r"create_distributed_table\('(analytics\.\w+)', 'symbol', (.*)\);", SCRIPT
    )
    assert {table for table, _ in colocated} == built
    assert all(rest == "colocate_with => 'market.klines_1m'" for _, rest in colocated)
    problems = [p for table in sorted(built) for p in check_distributable(conn, table)]
    assert problems == []
    for table in built:
        assert (
            conn.execute(
                "select count(*) from pg_index where indrelid = %s::regclass and indisunique",
                (table,),
            ).fetchone()[0]
            >= 1
        ), table
