"""Shared fixtures: one embedded PostgreSQL per test session, a fresh migrated database per test."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from include.platform import db, pgserver
from include.platform.migrate import migrate

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DB = "platform_template"
AIRFLOW_DB = "airflow"
_counter = itertools.count()
_pg_port: int | None = None
_pg_root: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point Airflow at the session's server before anything imports it (it reads config once).

    The server's superuser password is generated now, so Airflow's URL can carry it. The roles'
    passwords are session variables: a test may point DATA_DIR anywhere and still connect as a
    role (role_url over the test's own database); migrate sets them on the roles.
    """
    global _pg_port, _pg_root
    _pg_port = pgserver.free_port()
    _pg_root = Path(tempfile.mkdtemp(prefix="pg-"))
    password = pgserver.superuser_password(_pg_root / "data")
    home = Path(tempfile.mkdtemp(prefix="airflow-home-"))
    for role in db.ROLES:
        os.environ.setdefault(db.role_variables(role)[1], secrets.token_urlsafe(24))
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=(
            f"postgresql+psycopg2://postgres:{password}@127.0.0.1:{_pg_port}/{AIRFLOW_DB}"
        ),
        # Generated files (role passwords included) never land in the checkout's .data/.
        DATA_DIR=str(_pg_root / "data-dir"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT_ROOT / "dags"),
        AIRFLOW__CORE__PARALLELISM="4",
        DBT_PROFILES_DIR=str(PROJECT_ROOT / "dbt_project"),
        # A developer's .env must not leak into the tests; tests that want one set their own.
        ENV_FILE=os.devnull,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The soak first, then the other slow files, then the rest (each file's tests in their own
    order): `make test` hands whole files to its workers in this order, and a ten-minute file
    picked last would leave the other workers idle while it runs."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("soak"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's Airflow home (logs, config) goes with the session."""
    home = os.environ.get("AIRFLOW_HOME", "")
    if Path(home).name.startswith("airflow-home-"):
        shutil.rmtree(home, ignore_errors=True)
    if _pg_root is not None:
        shutil.rmtree(_pg_root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.PgServer]:
    """A real PostgreSQL for the whole session, deleted afterwards."""
    assert _pg_root is not None
    pgdata = _pg_root / "data"
    server = pgserver.start(pgdata, _pg_port or pgserver.free_port())
    yield server
    pgserver.destroy(pgdata)


@pytest.fixture(scope="session")
def airflow_home(pg_server: pgserver.PgServer) -> Iterator[Path]:
    """An Airflow metadata database on the session's server, migrated once (for dag.test())."""
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(AIRFLOW_DB)))
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    yield Path(os.environ["AIRFLOW_HOME"])
    # Close Airflow's pooled connections before the server goes away, not in an atexit hook.
    from airflow import settings

    settings.dispose_orm()


@pytest.fixture(scope="session")
def template_url(pg_server: pgserver.PgServer) -> str:
    """A database with every migration applied, cloned for each test."""
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(TEMPLATE_DB)))
    url = pg_server.url(TEMPLATE_DB)
    migrate(url)
    return url


def create_database(server: pgserver.PgServer, name: str, template: str | None) -> str:
    """Create a database (optionally from a template) and return its URL."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(query)
    return server.url(name)


@pytest.fixture
def database_url(
    pg_server: pgserver.PgServer, template_url: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A fresh, migrated database of its own; DATABASE_URL points at it for the test."""
    url = create_database(pg_server, f"t{os.getpid()}_{next(_counter)}", TEMPLATE_DB)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def empty_database_url(pg_server: pgserver.PgServer, template_url: str) -> str:
    """A fresh database with no migrations applied (on a server where another database was
    migrated: the roles, which are the server's, exist with their passwords)."""
    return create_database(pg_server, f"e{os.getpid()}_{next(_counter)}", None)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test's own database."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


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
