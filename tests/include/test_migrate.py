"""Migrations: versioned, idempotent, and they create DESIGN.md's tables."""

from __future__ import annotations

import hashlib
import re

import psycopg
import pytest

from include.platform.migrate import INCLUDE, MigrationError, discover, migrate
from include.sql import FUNCTIONS_DIR
from tests.support.db import CANDLE_COLUMN_TYPES

CANDLE_COLUMNS = CANDLE_COLUMN_TYPES


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


def test_an_amended_migration_is_recorded_and_any_other_edit_refused(
    empty_database_url: str, tmp_path
) -> None:
    """A migration listed in AMENDED with the checksum a database applied is taken as applied
    (its new checksum recorded, nothing run again); an edit not listed is still refused."""
    first = tmp_path / "0001_first.sql"
    first.write_text("create table t (a int); -- a function body lived here")
    migrate(empty_database_url, tmp_path)
    before = hashlib.sha256(first.read_bytes()).hexdigest()
    first.write_text("create table t (a int);")
    (tmp_path / "AMENDED").write_text(f"# moved\n0001_first {before}\n")

    assert migrate(empty_database_url, tmp_path) == []
    with psycopg.connect(empty_database_url) as conn:
        recorded = conn.execute(
            "select checksum from public.schema_migrations where version = '0001_first'"
        ).fetchone()[0]
    assert recorded == hashlib.sha256(first.read_bytes()).hexdigest()
    assert migrate(empty_database_url, tmp_path) == []

    first.write_text("create table t (a bigint);")
    with pytest.raises(MigrationError, match=r"0001_first\.sql was edited"):
        migrate(empty_database_url, tmp_path)


def test_a_malformed_amended_line_is_named(empty_database_url: str, tmp_path) -> None:
    """A line of AMENDED that is not `version checksum` stops the run, naming the line."""
    (tmp_path / "0001_first.sql").write_text("create table t (a int);")
    (tmp_path / "AMENDED").write_text("# moved\n0001_first\n")
    with pytest.raises(MigrationError, match=r"AMENDED line 2: expected"):
        migrate(empty_database_url, tmp_path)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("select to_regclass('public.t')").fetchone()[0] is None


def test_an_include_that_names_no_file_stops_the_run(empty_database_url: str, tmp_path) -> None:
    """`\\i` takes a file of include/sql; one that is not there is named with its migration."""
    (tmp_path / "0001_first.sql").write_text("create table t (a int);\n\\i functions/none.sql\n")
    with pytest.raises(MigrationError, match=r"0001_first\.sql: \\i functions/none\.sql"):
        migrate(empty_database_url, tmp_path)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("select to_regclass('public.t')").fetchone()[0] is None


DEFINES = re.compile(
    r"\bcreate\s+(?:or\s+replace\s+)?(?:constraint\s+)?(function|procedure|trigger)\s+"
    r"(?:if\s+not\s+exists\s+)?([\w.]+)",
    re.I,
)


def test_functions_and_triggers_live_in_the_functions_files() -> None:
    """No migration file defines a function, procedure or trigger: they live in
    include/sql/functions/, which every migrate re-applies and a migration that needs one at
    its step takes with `\\i`, so a body is written once and never copied into a migration."""
    for migration in discover():
        defined = DEFINES.findall(migration.path.read_text())
        assert not defined, f"{migration.version}: {defined} go to include/sql/functions/"
    included = {name for m in discover() for name in INCLUDE.findall(m.path.read_text())}
    assert included == {
        "functions/build_horizons.sql",
        "functions/notify.sql",
        "functions/partitions.sql",
    }
    assert all((FUNCTIONS_DIR.parent / name).exists() for name in included)
