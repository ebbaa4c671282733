"""Migrations: versioned, idempotent, and they create DESIGN.md's tables."""

from __future__ import annotations

import psycopg
import pytest

from include.platform.migrate import MigrationError, discover, migrate

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
