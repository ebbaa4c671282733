"""Shared fixtures: one embedded PostgreSQL per test session, a fresh migrated database per test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from include import pgserver
from include.migrate import migrate

TEMPLATE_DB = "platform_template"
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pgserver.PgServer]:
    """A real PostgreSQL for the whole session, deleted afterwards."""
    pgdata = tmp_path_factory.mktemp("pg") / "data"
    server = pgserver.start(pgdata, pgserver.free_port())
    yield server
    pgserver.destroy(pgdata)


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
def empty_database_url(pg_server: pgserver.PgServer) -> str:
    """A fresh database with no migrations applied."""
    return create_database(pg_server, f"e{os.getpid()}_{next(_counter)}", None)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test's own database."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


PROJECT_ROOT = Path(__file__).resolve().parents[1]
