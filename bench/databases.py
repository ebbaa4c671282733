"""The benches' own databases: each bench measures in a database of its own on the server, so
nothing a user (or another bench) left in theirs changes what it measures."""

from __future__ import annotations

import psycopg
from psycopg import sql

from include.platform import db, migrate


def fresh_database(server_url: str, name: str) -> str:
    """Drop (closing whatever still holds it) and create database `name`, migrated; its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
    db.ensure_database(server_url, name)
    url = db.with_database(server_url, name)
    migrate.migrate(url)
    return url
