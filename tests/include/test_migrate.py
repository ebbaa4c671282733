"""Migrations: versioned, idempotent, and they create DESIGN.md's tables."""

from __future__ import annotations

import re

import psycopg
import pytest

from include.platform.migrate import MigrationError, discover, migrate
from include.sql import FUNCTIONS_DIR

CANDLE_COLUMNS = {
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


def columns(url: str, schema: str, table: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            (schema, table),
        ).fetchall()
    return dict(rows)


def test_migrate_twice_applies_once(empty_database_url: str) -> None:
    """Running migrate twice applies every file once and changes nothing the second time."""
    first = migrate(empty_database_url)
    second = migrate(empty_database_url)
    assert first == [m.version for m in discover()]
    assert second == []
    with psycopg.connect(empty_database_url) as conn:
        count = conn.execute("select count(*) from public.schema_migrations").fetchone()[0]
    assert count == len(first)


@pytest.mark.parametrize("table", ["candles_1m_live", "klines_1m"])
def test_candle_tables_have_design_columns(database_url: str, table: str) -> None:
    """Every candle table has DESIGN.md's columns with its types."""
    found = columns(database_url, "market", table)
    assert {name: found.get(name) for name in CANDLE_COLUMNS} == CANDLE_COLUMNS


def test_keys_are_symbol_and_open_time(conn: psycopg.Connection) -> None:
    """A second row for the same symbol and minute is rejected by the key."""
    insert = (
        "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume,"
        " quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source)"
        " values ('BTCUSDT', '2025-01-01T00:00Z', 1, 1, 1, 1, 0, 0, 0, 0, 0, 'rest')"
    )
    conn.execute(insert)
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert)


def test_edited_migration_is_refused(empty_database_url: str, tmp_path) -> None:
    """A migration edited after it was applied stops the run with its file name."""
    (tmp_path / "0001_first.sql").write_text("create table t (a int);")
    migrate(empty_database_url, tmp_path)
    (tmp_path / "0001_first.sql").write_text("create table t (a bigint);")
    with pytest.raises(MigrationError, match=r"0001_first\.sql was edited"):
        migrate(empty_database_url, tmp_path)


def test_failed_migration_leaves_nothing(empty_database_url: str, tmp_path) -> None:
    """A failing migration file is rolled back whole and named in the error."""
    (tmp_path / "0001_bad.sql").write_text("create table half (a int); select no_such_column;")
    with pytest.raises(MigrationError, match=r"0001_bad\.sql"):
        migrate(empty_database_url, tmp_path)
    with psycopg.connect(empty_database_url) as conn:
        exists = conn.execute("select to_regclass('public.half')").fetchone()[0]
    assert exists is None


# The migrations that defined functions or triggers before they moved to include/sql/functions/
# (history already applied on users' databases: their first versions stay).
FIRST_VERSIONS = {
    "0006_live_candle_notify",
    "0011_monthly_partitions",
    "0012_notify_rebuilt_corrections",
    "0013_notify_candles",
    "0014_rest_weight_windows",
}
DEFINES = re.compile(
    r"\bcreate\s+(?:or\s+replace\s+)?(?:constraint\s+)?(function|procedure|trigger)\s+"
    r"(?:if\s+not\s+exists\s+)?([\w.]+)",
    re.I,
)


def test_functions_and_triggers_live_in_the_functions_files() -> None:
    """No migration after the first versions defines a function or trigger, and each one an
    earlier migration defined is defined again (or dropped) in include/sql/functions/, which
    every migrate re-applies: a body is never copied into a new migration."""
    current = "\n".join(p.read_text() for p in sorted(FUNCTIONS_DIR.glob("*.sql")))
    for migration in discover():
        defined = {(kind.lower(), name) for kind, name in DEFINES.findall(migration.text)}
        if migration.version not in FIRST_VERSIONS:
            assert not defined, f"{migration.version}: functions go to include/sql/functions/"
            continue
        for kind, name in defined:
            again = re.search(
                rf"\b(create\s+or\s+replace\s+{kind}|drop\s+{kind}\s+if\s+exists)\s+"
                rf"{re.escape(name)}\b",
                current,
                re.I,
            )
            assert again, f"{migration.version}: {kind} {name} is not in include/sql/functions/"
