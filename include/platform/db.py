"""Where the database is: DATABASE_URL, or the embedded server under ./.data/; and as which role.

DATABASE_URL is the administrator's (migrations use it). Every part connects as its own
least-privilege role (DESIGN.md "Database roles") through role_url: the role's URL from the
environment when given, else DATABASE_URL's server and database with the role's name and its
password (from the environment, or generated into DATA_DIR/secrets by migrate).
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from include.platform import pgserver
from include.platform.settings import Settings, get_settings
from include.sql import load_sql

logger = logging.getLogger(__name__)

STREAMER = "streamer_writer"
LOADER = "history_loader"
BUILDER = "dbt_builder"
READER = "analytics_reader"
# The embedded server's database for the platform (DATABASE_URL names its own).
APP_DATABASE = "binance"
# An advisory lock on the marts: dbt's build holds it exclusively (two builds never
# interleave) and the quality check shared, so a check never reads the marts between two
# models' commits (a new 1m mart beside an old 5m one) and a build waits for a check.
MARTS_LOCK_KEY = 0x74_66_62_75_69_6C_64
# Each role and the prefix of its variables: <PREFIX>_DATABASE_URL (a whole URL, which wins) or
# <PREFIX>_DATABASE_PASSWORD (the password only; any character works in it).
ROLES = {STREAMER: "STREAMER", LOADER: "LOADER", BUILDER: "DBT", READER: "API"}


def role_variables(role: str) -> tuple[str, str]:
    """The names of a role's URL and password variables."""
    prefix = ROLES[role]
    return f"{prefix}_DATABASE_URL", f"{prefix}_DATABASE_PASSWORD"


def role_password_file(role: str, settings: Settings | None = None) -> Path:
    """Where a role's generated password is kept: DATA_DIR/secrets/<role>.password (0600)."""
    settings = settings or get_settings()
    return settings.data_dir / "secrets" / f"{role}.password"


def with_credentials(url: str, user: str, password: str | None) -> str:
    """The same server and database as url, logging in as user (with password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ValueError("DATABASE_URL must be a postgresql://host/database URL to derive roles")
    host = parts.netloc.rpartition("@")[2]
    login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{login}@{host}"))


def role_password(role: str, settings: Settings | None = None) -> str | None:
    """The role's password: its password variable, else the file migrate generated."""
    settings = settings or get_settings()
    _, password_variable = role_variables(role)
    if password := settings.secret(password_variable):
        return password
    try:
        return role_password_file(role, settings).read_text().strip() or None
    except FileNotFoundError:
        return None


def role_url(admin_url: str, role: str, settings: Settings | None = None) -> str:
    """The URL a part connects with as its role: <PREFIX>_DATABASE_URL when set, else admin_url's
    server and database as the role, with its password (variable, else DATA_DIR's file)."""
    settings = settings or get_settings()
    url_variable, password_variable = role_variables(role)
    if url := settings.secret(url_variable):
        return url
    password = role_password(role, settings)
    if password is None:
        raise RuntimeError(
            f"no password for database role {role}: run `python -m include.cli migrate` "
            f"(it generates one into {role_password_file(role, settings)}), or set "
            f"{password_variable} or {url_variable}"
        )
    return with_credentials(admin_url, role, password)


def resolve_role_url(role: str, settings: Settings | None = None, *, start: bool = True) -> str:
    """role_url over the platform's database (DATABASE_URL or the embedded server).

    A role URL given in the environment is used as it is, without looking at DATABASE_URL.
    """
    settings = settings or get_settings()
    url_variable, _ = role_variables(role)
    if url := settings.secret(url_variable):
        return url
    return role_url(resolve_database_url(settings, start=start), role, settings)


def set_role_passwords(conn: psycopg.Connection, settings: Settings | None = None) -> list[str]:
    """Give every role its password (as the administrator); return the roles set.

    A role's password comes from <PREFIX>_DATABASE_PASSWORD, else from <PREFIX>_DATABASE_URL
    when that URL logs in as the role with a password, else from DATA_DIR/secrets/<role>.password,
    generated (mode 0600) on first use. A role URL naming another user, or no password, is the
    administrator's to manage: the role is left as it is.
    """
    settings = settings or get_settings()
    done = []
    for role in ROLES:
        url_variable, password_variable = role_variables(role)
        password = settings.secret(password_variable)
        url = settings.secret(url_variable)
        if not password and url:
            parts = urlsplit(url)
            if unquote(parts.username or "") != role or not parts.password:
                continue
            password = unquote(parts.password)
        if not password:
            password = pgserver.read_or_create_secret(role_password_file(role, settings))
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode())
        conn.execute(
            sql.SQL("alter role {} password {}").format(
                sql.Identifier(role), sql.Literal(verifier.decode())
            )
        )
        done.append(role)
    return done


def embedded_pgdata(settings: Settings) -> Path:
    """The embedded server's data directory."""
    return settings.data_dir / "pg"


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


# For the administrator inside a database another role owns: that owner may create objects in
# its public schema and even `alter database ... set search_path = public, pg_catalog`, so an
# unqualified name (pg_roles, an operator) could resolve to its view or function and run with
# the administrator's rights. Startup options win over the database's and the role's settings.
PINNED_SEARCH_PATH = "-c search_path=pg_catalog,pg_temp"


def connect_pinned(url: str) -> psycopg.Connection:
    """An autocommit connection whose search_path is pg_catalog and pg_temp alone, whatever the
    database's owner set: for the administrator into a database another role owns."""
    return psycopg.connect(url, autocommit=True, options=PINNED_SEARCH_PATH)


def ensure_database(server_url: str, database: str) -> None:
    """Create a database on the server unless it exists."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
            logger.info("created database %s", database)


def ensure_owned_database(
    admin_url: str, database: str, role: str, settings: Settings | None = None
) -> str:
    """A database on admin_url's server owned by its own login role (created with a password
    generated into DATA_DIR/secrets/<role>.password, 0600), and that role's URL to it.

    A database an earlier version made as the administrator is handed over, with the tables,
    sequences and views in its public schema, so the role can migrate it."""
    settings = settings or get_settings()
    password = settings.secret(f"{role.upper()}_DATABASE_PASSWORD") or (
        pgserver.read_or_create_secret(role_password_file(role, settings))
    )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
            conn.execute(
                sql.SQL("create role {} login nosuperuser nocreatedb nocreaterole").format(
                    sql.Identifier(role)
                )
            )
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode())
        conn.execute(
            sql.SQL("alter role {} password {}").format(
                sql.Identifier(role), sql.Literal(verifier.decode())
            )
        )
        # Airflow's role is made here, after migrate set the others' limits: its own now.
        from include.platform import role_limits

        if role in role_limits.DEFAULTS:
            role_limits.apply(conn, role, role_limits.limits(settings)[role])
        owner = conn.execute(
            "select pg_get_userbyid(datdba) from pg_database where datname = %s", (database,)
        ).fetchone()
        if owner is None:
            conn.execute(
                sql.SQL("create database {} owner {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
            logger.info("created database %s owned by %s", database, role)
        elif owner[0] != role:
            conn.execute(
                sql.SQL("alter database {} owner to {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
    with connect_pinned(with_database(admin_url, database)) as conn:
        for kind, name in conn.execute(load_sql("select_owned_in_public"), (role,)).fetchall():
            conn.execute(
                sql.SQL("alter {} public.{} owner to {}").format(
                    sql.SQL(kind), sql.Identifier(name), sql.Identifier(role)
                )
            )
        for (name,) in conn.execute(
            "select t.typname from pg_type as t join pg_namespace as n on n.oid = t.typnamespace "
            "where n.nspname = 'public' and t.typtype in ('e', 'd') "
            "and t.typowner <> (select oid from pg_roles where rolname = %s)",
            (role,),
        ).fetchall():
            conn.execute(
                sql.SQL("alter type public.{} owner to {}").format(
                    sql.Identifier(name), sql.Identifier(role)
                )
            )
    return with_credentials(with_database(admin_url, database), role, password)


def grant_airflow_reads(airflow_url: str, reader: str = READER) -> None:
    """As the owner of Airflow's metadata database: let the reader see DAG and task outcomes
    (dag_run, task_instance; Grafana's Airflow panels), nothing else of it."""
    with psycopg.connect(airflow_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("grant connect on database {} to {}").format(
                sql.Identifier(conn.info.dbname), sql.Identifier(reader)
            )
        )
        conn.execute(sql.SQL("grant usage on schema public to {}").format(sql.Identifier(reader)))
        conn.execute(
            sql.SQL("grant select on public.dag_run, public.task_instance to {}").format(
                sql.Identifier(reader)
            )
        )


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
    ensure_database(server.url(), APP_DATABASE)
    return server.url(APP_DATABASE)
