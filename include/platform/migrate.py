"""A minimal versioned-SQL migration runner over include/sql/migrations/NNNN_name.sql."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from include.platform import db, index_rebuilds, role_limits
from include.platform.settings import Settings
from include.sql import FUNCTIONS_DIR, MIGRATIONS_DIR, SQL_DIR, load_sql

logger = logging.getLogger(__name__)

# The roles' table privileges, applied after every run of the platform's migrations.
GRANTS = SQL_DIR / "grants.sql"
# Any constant works; it only has to be the same for every process that migrates.
LOCK_KEY = 0x62_69_6E_61_6E_63_65

BOOKKEEPING = load_sql("create_schema_migrations")
# Migrations amended after users applied them, with the checksums they had then.
AMENDED = "AMENDED"
# A migration's line `\i functions/<name>.sql` stands for that file of include/sql as it is now
# (psql's include, read from include/sql): a migration that needs a function at its step takes
# the one current body instead of a copy of its own.
INCLUDE = re.compile(r"^\\i\s+(\S+)\s*$", re.M)


def maintain_partitions(conn: psycopg.Connection, *, retention: bool = True) -> None:
    """Once the partitions exist (0011): the coming months and days, and (retention) the live
    retention. A build every 5 minutes passes retention=False: it runs as dbt_builder, which may
    not drop live days; the daily backfill's last task does, as history_loader."""
    exists = conn.execute(
        "select to_regprocedure('market.ensure_month_partitions(regclass,timestamptz,timestamptz)')"
    ).fetchone()
    if exists and exists[0]:
        from include.platform import partitions

        days = partitions.live_retention_days() if retention else None
        partitions.maintain(conn, retention_days=days)


class MigrationError(RuntimeError):
    """A migration could not be applied, or an applied one was edited."""


def apply_functions(conn: psycopg.Connection, directory: Path = FUNCTIONS_DIR) -> None:
    """(Re-)create the platform's functions (include/sql/functions/*.sql, each `create or
    replace`), so a function lives in one file and a change to it is not a copied migration."""
    for path in sorted(directory.glob("*.sql")):
        try:
            with conn.transaction():
                conn.execute(path.read_text())
        except psycopg.Error as err:
            first = str(err).strip().splitlines()[0]
            raise MigrationError(f"functions/{path.name}: {first}") from err


@dataclass(frozen=True)
class Migration:
    """One SQL file: its version (the file name without .sql), text and checksum."""

    version: str
    path: Path

    @property
    def text(self) -> str:
        """The file's SQL, each `\\i` line replaced by the text of the file it names."""

        def included(match: re.Match[str]) -> str:
            try:
                return (SQL_DIR / match.group(1)).read_text()
            except OSError as err:
                raise MigrationError(f"{self.path.name}: \\i {match.group(1)}: {err}") from err

        return INCLUDE.sub(included, self.path.read_text())

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def amended(directory: Path = MIGRATIONS_DIR) -> dict[str, set[str]]:
    """Each amended migration's former checksums (directory/AMENDED: `version checksum` lines,
    `#` comments): a database that applied one of those texts holds what the current one makes,
    so migrate records the new checksum instead of refusing the edit."""
    path = directory / AMENDED
    former: dict[str, set[str]] = {}
    if path.exists():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) != 2 or len(words[1]) != 64:
                raise MigrationError(
                    f"{AMENDED} line {number}: expected `version sha256-checksum`, got {line!r}"
                )
            version, checksum = words
            former.setdefault(version, set()).add(checksum)
    return former


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files, in the order they apply."""
    return [Migration(p.stem, p) for p in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def migrate(
    url: str, directory: Path = MIGRATIONS_DIR, settings: Settings | None = None
) -> list[str]:
    """Apply every migration not applied yet, each in its own transaction; return their versions.

    Over the platform's migrations (directory left as is), it then grants the roles their
    privileges (include/sql/grants.sql), sets their passwords (db.set_role_passwords: from
    the environment, else generated into settings' DATA_DIR) and their limits
    (role_limits: timeouts and connection limits, Airflow's metadata role's too).
    """
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        # Two processes starting at once (make run, the Airflow task) must not race.
        conn.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(BOOKKEEPING)
            done = dict(conn.execute("select version, checksum from public.schema_migrations"))
            former = amended(directory)
            for migration in discover(directory):
                if migration.version in done:
                    if done[migration.version] in former.get(migration.version, set()):
                        conn.execute(
                            "update public.schema_migrations set checksum = %s where version = %s",
                            (migration.checksum, migration.version),
                        )
                        logger.info("migration %s: amended text recorded", migration.version)
                    elif done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{migration.path.name} was edited after it was applied: "
                            "add a new migration instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.text)
                        conn.execute(
                            "insert into public.schema_migrations (version, checksum) "
                            "values (%s, %s)",
                            (migration.version, migration.checksum),
                        )
                except psycopg.Error as err:
                    first = str(err).strip().splitlines()[0]
                    raise MigrationError(f"{migration.path.name}: {first}") from err
                logger.info("applied migration %s", migration.version)
                applied_now.append(migration.version)
            if directory == MIGRATIONS_DIR:
                apply_functions(conn)
            maintain_partitions(conn)
            if directory == MIGRATIONS_DIR:
                # Whatever a rebuild of a finished month's indexes left invalid when it failed
                # midway: on the administrator's months only it drops them (the builds' own
                # rebuild task drops dbt_builder's), once per start, not in every build's upkeep.
                index_rebuilds.drop_failed(conn)
                try:
                    with conn.transaction():
                        conn.execute(GRANTS.read_text())
                        roles = db.set_role_passwords(conn, settings)
                        role_limits.apply_all(conn, (*db.ROLES, role_limits.AIRFLOW), settings)
                except psycopg.Error as err:
                    first = str(err).strip().splitlines()[0]
                    raise MigrationError(f"{GRANTS.name}: {first}") from err
                logger.info("database roles ready: %s", ", ".join(roles) or "none managed here")
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now
