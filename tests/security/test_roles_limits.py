"""Database roles against a login that holds the server's shared resources: every role has a
statement timeout, an idle-in-transaction timeout and a connection limit, and Airflow's
metadata role cannot reach the platform's database (tests/security/README.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from include.platform import db, role_limits
from include.platform.migrate import migrate
from tests.support.api import write_live
from tests.support.ws import values

PLATFORM_ROLES = tuple(db.ROLES)
MINUTE = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def airflow_role(database_url: str) -> str:
    """Airflow's metadata role, made as run.sh makes it (its own database); its URL there."""
    return db.ensure_owned_database(database_url, "airflow_meta_sec", role_limits.AIRFLOW)


@pytest.fixture
def defaults_after(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Roles belong to the server: the limits a test sets are the defaults again after it."""
    yield
    for name in role_limits.VARIABLES.values():
        monkeypatch.delenv(name, raising=False)
    migrate(database_url)


def role_settings(conn: psycopg.Connection, role: str) -> dict[str, str]:
    """The settings a role has in every database (ALTER ROLE ... SET)."""
    row = conn.execute(
        "select s.setconfig from pg_db_role_setting as s join pg_roles as r on r.oid = s.setrole "
        "where r.rolname = %s and s.setdatabase = 0",
        (role,),
    ).fetchone()
    return dict(item.split("=", 1) for item in (row[0] if row else []))


def test_every_role_has_timeouts_and_a_connection_limit(database_url, conn, airflow_role) -> None:
    """After migrate, each of the platform's roles and Airflow's has a statement timeout, an
    idle-in-transaction timeout and a connection limit; analytics_reader's are the tightest."""
    for role in (*PLATFORM_ROLES, role_limits.AIRFLOW):
        settings = role_settings(conn, role)
        assert {"statement_timeout", "idle_in_transaction_session_timeout"} <= set(settings), role
        assert all(settings[k] not in ("0", "0ms") for k in settings), (role, settings)
        [limit] = conn.execute(
            "select rolconnlimit from pg_roles where rolname = %s", (role,)
        ).fetchone()
        assert limit > 0, role
    with psycopg.connect(db.role_url(database_url, db.READER)) as reader:
        idle = reader.execute("show idle_in_transaction_session_timeout").fetchone()[0]
        statement = reader.execute("show statement_timeout").fetchone()[0]
    assert (idle, statement) == ("1min", "5min")


def test_airflow_cannot_connect_to_the_platform_database(database_url, airflow_role) -> None:
    """Airflow's metadata role logs in to its own database, not the platform's: PUBLIC has no
    CONNECT there; the platform's roles still connect."""
    migrate(database_url)
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(airflow_role) as meta:
        assert meta.execute("select current_user").fetchone()[0] == "airflow"
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(db.with_database(airflow_role, dbname)).close()
    for role in PLATFORM_ROLES:
        with psycopg.connect(db.role_url(database_url, role)) as ok:
            assert ok.execute("select current_user").fetchone()[0] == role


def test_a_listen_in_an_open_transaction_is_cut(
    database_url, conn, monkeypatch, defaults_after
) -> None:
    """analytics_reader LISTENs inside a transaction and stays there, which would pin the
    server's notification queue until every notifying commit fails: the session is ended after
    DATABASE_ROLE_IDLE_TIMEOUT, and the streamer's notifying commits go on."""
    monkeypatch.setenv("DATABASE_ROLE_IDLE_TIMEOUT", "analytics_reader=1s")
    migrate(database_url)
    pinning = psycopg.connect(db.role_url(database_url, db.READER))
    pinning.execute("listen candles_1m; select 1")
    pid = pinning.info.backend_pid
    assert pinning.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    with psycopg.connect(db.role_url(database_url, db.STREAMER), autocommit=True) as streamer:
        write_live(streamer, "BTCUSDT", MINUTE, values("101"), False)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            alive = conn.execute("select 1 from pg_stat_activity where pid = %s", (pid,))
            if alive.fetchone() is None:
                break
            time.sleep(0.2)
        gone = conn.execute("select 1 from pg_stat_activity where pid = %s", (pid,)).fetchone()
        assert gone is None
        write_live(streamer, "BTCUSDT", MINUTE, values("102"), True)
    with pytest.raises(psycopg.Error, match="idle-in-transaction timeout"):
        pinning.execute("select 1")
    pinning.close()
