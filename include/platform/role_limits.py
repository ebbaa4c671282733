"""Each database role's limits: how long a statement may run, how long a session may sit idle
inside a transaction, and how many sessions it may hold.

A login that LISTENs and then stays inside a transaction (idle, or on a long statement) pins
PostgreSQL's one notification queue, shared by every database of the server: once it is full,
every commit that notifies fails, the streamer's writes included. The idle and statement
timeouts end such a session long before that (the queue holds 8 GB, hours of the platform's
notifications); the connection limit keeps one role from taking every slot of the server.
Batch roles get generous limits (a full dbt build, a year's import), analytics_reader tight
ones (the API sets its own, shorter, statement timeout per session). Applied by every migrate
(role-wide, so in every database the role logs in to), overridden per role by
DATABASE_ROLE_STATEMENT_TIMEOUT, DATABASE_ROLE_IDLE_TIMEOUT and DATABASE_ROLE_CONNECTION_LIMIT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import psycopg
from psycopg import sql

from include.platform.settings import Settings, get_settings, parse_duration

# Airflow's metadata role (scripts/run.sh `db url --database airflow --owner airflow`).
AIRFLOW = "airflow"


@dataclass(frozen=True)
class Limits:
    """statement_timeout and idle_in_transaction_session_timeout (seconds), CONNECTION LIMIT."""

    statement_s: float
    idle_s: float
    connections: int


DEFAULTS = {
    # Small batches every few milliseconds; a gap repair's write, partition upkeep.
    "streamer_writer": Limits(5 * 60, 5 * 60, 20),
    # A month's CSV in one COPY, reconcile's repairs, the live retention's drops; one
    # connection or two per Airflow task, mapped tasks per symbol.
    "history_loader": Limits(2 * 3600, 30 * 60, 64),
    # A full refresh of every mart over years of minutes; dbt's threads and the lock session.
    "dbt_builder": Limits(6 * 3600, 30 * 60, 32),
    # The API's pools in every API process, Grafana, the quality checks, exports.
    "analytics_reader": Limits(5 * 60, 60, 100),
    # Airflow's scheduler, API server, DAG processor and triggerer, each with its SQLAlchemy
    # pool; `airflow db migrate` on a large metadata database.
    AIRFLOW: Limits(3600, 3600, 200),
}

VARIABLES = {
    "statement_s": "DATABASE_ROLE_STATEMENT_TIMEOUT",
    "idle_s": "DATABASE_ROLE_IDLE_TIMEOUT",
    "connections": "DATABASE_ROLE_CONNECTION_LIMIT",
}


def parse_overrides(raw: str, name: str) -> dict[str, str]:
    """``role=value`` pairs, space- or comma-separated, for roles of DEFAULTS."""
    pairs: dict[str, str] = {}
    for part in raw.replace(",", " ").split():
        role, equals, value = part.partition("=")
        if not equals or not value:
            raise ValueError(f"{name}: {part!r} is not role=value (e.g. analytics_reader=2m)")
        if role not in DEFAULTS:
            raise ValueError(f"{name}: {role!r} is not one of {', '.join(DEFAULTS)}")
        pairs[role] = value
    return pairs


def limits(settings: Settings | None = None) -> dict[str, Limits]:
    """Every role's limits: the defaults, with the settings' overrides."""
    settings = settings or get_settings()
    chosen = dict(DEFAULTS)
    for attr, name in VARIABLES.items():
        for role, value in parse_overrides(getattr(settings, name.lower()), name).items():
            if attr == "connections":
                if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
                    raise ValueError(f"{name}: {role}={value!r} is not a positive whole number")
                parsed: float = int(value)
            else:
                parsed = parse_duration(value, f"{name} {role}")
            chosen[role] = replace(chosen[role], **{attr: parsed})
    return chosen


def apply(conn: psycopg.Connection, role: str, chosen: Limits) -> None:
    """Set one role's limits (as the administrator); the same statements on every run."""
    name = sql.Identifier(role)
    for setting, seconds in (
        ("statement_timeout", chosen.statement_s),
        ("idle_in_transaction_session_timeout", chosen.idle_s),
    ):
        conn.execute(
            sql.SQL("alter role {} set {} = {}").format(
                name, sql.Identifier(setting), sql.Literal(f"{round(seconds * 1000)}ms")
            )
        )
    conn.execute(
        sql.SQL("alter role {} connection limit {}").format(name, sql.Literal(chosen.connections))
    )


def apply_all(conn: psycopg.Connection, roles: tuple[str, ...], settings: Settings | None = None):
    """Set the limits of those of ``roles`` that exist on the server; return their names."""
    chosen = limits(settings)
    existing = {
        name
        for (name,) in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)", (list(roles),)
        )
    }
    for role in roles:
        if role in existing:
            apply(conn, role, chosen[role])
    return sorted(existing)
