"""dbt builds as dbt_builder (DESIGN.md "Database roles"), also over a build made before roles."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from include.platform import db
from include.platform.migrate import MIGRATIONS_DIR, migrate
from include.timeframes import build_timeframes
from tests.support.db import record_writers
from tests.support.dbt import MARTS, load_klines


def analytics_owners(conn: psycopg.Connection) -> dict[str, str]:
    """Each relation of the analytics schemas and its owner."""
    rows = conn.execute(
        "select n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner) from pg_class as c "
        "join pg_namespace as n on n.oid = c.relnamespace "
        "where n.nspname in ('analytics', 'analytics_staging') and c.relkind in ('r', 'p', 'v')"
    )
    return dict(rows.fetchall())


@pytest.mark.slow
def test_dbt_builds_as_dbt_builder_over_a_build_made_before_roles(
    empty_database_url: str, monkeypatch, window_klines, tmp_path: Path
) -> None:
    """An install built by the administrator before migration 0010 is handed to dbt_builder by
    it; the next build (given only DATABASE_URL) runs as dbt_builder, prunes the consumed ranges
    as it, and analytics_reader reads every mart it built."""
    url = empty_database_url
    monkeypatch.setenv("DATABASE_URL", url)
    before_roles = tmp_path / "migrations"
    before_roles.mkdir()
    # Every migration but the roles' (the build below uses today's dbt project, which needs
    # the partition functions of 0011): 0010 then comes last, as an upgrade would bring it.
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if not path.name.startswith("0010"):
            shutil.copy(path, before_roles / path.name)
    migrate(url, before_roles)
    with psycopg.connect(url, autocommit=True) as conn:
        load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"][:600])
        with monkeypatch.context() as before:
            # As the platform built before roles: as the administrator, no role set.
            before.setenv("DBT_PGROLE", "postgres")
            build_timeframes(url, unit_tests=False)
        assert set(analytics_owners(conn).values()) == {"postgres"}

        assert "0010_database_roles" in migrate(url)
        owners = analytics_owners(conn)
        assert {f"analytics.candles_{tf}" for tf in MARTS} <= set(owners)
        assert set(owners.values()) == {db.BUILDER}

        pruned_by = record_writers(conn, "market.timeframe_dirty_ranges")
        load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"][600:700])
        result = build_timeframes(unit_tests=False)
        assert result.ok
        assert pruned_by() == {db.BUILDER}
        assert set(analytics_owners(conn).values()) == {db.BUILDER}
        # An administrator's build (an explicit URL, as the tests give) builds as dbt_builder
        # too: what it makes is dbt_builder's.
        conn.execute("drop table analytics.candles_1w")
        build_timeframes(url, unit_tests=False)
        assert set(analytics_owners(conn).values()) == {db.BUILDER}
    with psycopg.connect(db.role_url(url, db.READER)) as reader:
        for tf in MARTS:
            count = reader.execute(f"select count(*) from analytics.candles_{tf}").fetchone()[0]
            assert count > 0, tf
        # The second build added the minutes loaded after the first.
        assert reader.execute("select count(*) from analytics.candles_1m").fetchone() == (700,)
