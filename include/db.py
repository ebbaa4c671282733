"""Where the database is: DATABASE_URL, or the embedded server under ./.data/."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from include import pgserver
from include.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def embedded_pgdata(settings: Settings) -> Path:
    """The embedded server's data directory."""
    return settings.data_dir / "pg"


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def ensure_database(server_url: str, database: str) -> None:
    """Create a database on the server unless it exists."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
            logger.info("created database %s", database)


def resolve_database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """DATABASE_URL when set; otherwise the embedded server's app database, started if needed."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    pgdata = embedded_pgdata(settings)
    server = pgserver.status(pgdata)
    if server is None:
        if not start:
            raise RuntimeError(
                f"DATABASE_URL is unset and no embedded PostgreSQL runs under {pgdata}: "
                "run `python -m include.cli db start` (make run does it)"
            )
        server = pgserver.start(pgdata, settings.embedded_pg_port)
    ensure_database(server.url(), settings.app_database)
    return server.url(settings.app_database)
