"""Shared fixtures: one embedded PostgreSQL per test session, a fresh migrated database per test."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from fakebinance.server import ThreadedFakeBinance
from include.platform import db, pgserver
from include.platform.migrate import migrate
from include.timeframes import build_timeframes
from tests.include.history_support import coinm_config, running_usdm_fake
from tests.support.db import (
    AIRFLOW_DB,
    TEMPLATE_DB,
    create_database,
    database_numbers,
    drop_spent,
    spent,
    wait_for_drops,
)
from tests.support.paths import PROJECT_ROOT
from tests.support.quality import CLEAN_DB, load_clean_day

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
    if _pg_root is not None and _pg_root.exists():
        # Deleted by a process of its own: the session's wall time does not wait for it.
        subprocess.Popen(
            ["rm", "-rf", str(_pg_root)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.PgServer]:
    """A real PostgreSQL for the whole session, deleted afterwards."""
    assert _pg_root is not None
    pgdata = _pg_root / "data"
    server = pgserver.start(pgdata, _pg_port or pgserver.free_port())
    yield server
    wait_for_drops()
    # No shutdown checkpoint (the data goes next); the files go with the session's root, in
    # the background (pytest_unconfigure): a session's thousands of databases took seconds.
    pgserver.stop(pgdata, mode="immediate")
    pgserver.password_file(pgdata).unlink(missing_ok=True)


@pytest.fixture(scope="module", autouse=True)
def drop_spent_databases() -> Iterator[None]:
    """The tests' copies of the template (15 MB each) go in batches as their modules end (on a
    thread of its own: tests/support/db.py): kept to the session's end, the suite's thousand
    copies filled a CI machine's disk."""
    yield
    drop_spent()


@pytest.fixture(scope="session")
def airflow_home(pg_server: pgserver.PgServer) -> Iterator[Path]:
    """An Airflow metadata database on the session's server, migrated once (for dag.test())."""
    create_database(pg_server, AIRFLOW_DB, None)
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
    url = create_database(pg_server, TEMPLATE_DB, None)
    migrate(url)
    return url


@pytest.fixture
def database_url(
    pg_server: pgserver.PgServer, template_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh, migrated database of its own; DATABASE_URL points at it for the test (dropped
    afterwards: drop_spent_databases)."""
    name = f"t{os.getpid()}_{next(database_numbers)}"
    url = create_database(pg_server, name, TEMPLATE_DB)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    spent.append((pg_server.url(), name))


@pytest.fixture
def empty_database_url(pg_server: pgserver.PgServer, template_url: str) -> Iterator[str]:
    """A fresh database with no migrations applied (on a server where another database was
    migrated: the roles, which are the server's, exist with their passwords)."""
    name = f"e{os.getpid()}_{next(database_numbers)}"
    yield create_database(pg_server, name, None)
    spent.append((pg_server.url(), name))


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test's own database."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def clean_template(pg_server: pgserver.PgServer, template_url: str) -> str:
    """A database with the clean day loaded and the timeframes built by real dbt (once)."""
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"drop database if exists {CLEAN_DB}")
    url = create_database(pg_server, CLEAN_DB, TEMPLATE_DB)
    load_clean_day(url)
    build_timeframes(url)
    return CLEAN_DB


@pytest.fixture
def clean_url(
    pg_server: pgserver.PgServer, clean_template: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh copy of the clean database for one test; DATABASE_URL points at it (dropped
    afterwards: drop_spent_databases)."""
    name = f"q{os.getpid()}_{datetime.now(UTC).strftime('%H%M%S%f')}"
    url = create_database(pg_server, name, clean_template)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    spent.append((pg_server.url(), name))


@pytest.fixture
def gx_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A GX project directory of the test's own (DATA_DIR points above it)."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    return tmp_path / "gx"


@pytest.fixture(scope="module")
def usdm_fake() -> Iterator[ThreadedFakeBinance]:
    """The fake with its USDⓈ-M perpetuals (BTCUSDT, ETHUSDT) beside spot, one a module."""
    with running_usdm_fake() as server:
        yield server


@pytest.fixture(scope="module")
def coinm_fake() -> Iterator[ThreadedFakeBinance]:
    """The fake with COIN-M's perpetuals (BTCUSD_PERP, ETHUSD_PERP) beside spot and USDⓈ-M,
    one a module."""
    with running_usdm_fake(coinm_config=coinm_config()) as server:
        yield server
