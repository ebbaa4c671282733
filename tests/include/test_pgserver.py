"""The embedded PostgreSQL: starts under a data dir, is reused while running, stops cleanly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from include.platform import pgserver
from tests.support.cli import run_cli


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env)


def test_start_reuse_stop(tmp_path: Path) -> None:
    """A second start reuses the running server; after stop nothing listens and data persists."""
    pgdata = tmp_path / "pg"
    port = pgserver.free_port()
    first = pgserver.start(pgdata, port)
    try:
        with psycopg.connect(first.url(), autocommit=True) as conn:
            conn.execute("create table kept (v int); insert into kept values (42)")
        again = pgserver.start(pgdata, pgserver.free_port())
        assert again.pid == first.pid
        assert again.port == port
    finally:
        assert pgserver.stop(pgdata)
    assert pgserver.status(pgdata) is None
    assert pgserver.stop(pgdata) is False
    restarted = pgserver.start(pgdata, port)
    try:
        with psycopg.connect(restarted.url()) as conn:
            assert conn.execute("select v from kept").fetchone() == (42,)
    finally:
        pgserver.destroy(pgdata)


def test_a_data_dir_that_trusted_tcp_logins_requires_passwords_after_a_restart(
    tmp_path: Path,
) -> None:
    """A data directory initialised before passwords were required (trust over TCP) asks for
    the superuser's password once started again; the password kept beside it logs in."""
    pgdata = tmp_path / "pg"
    server = pgserver.start(pgdata, pgserver.free_port())
    anonymous = f"postgresql://{pgserver.SUPERUSER}@127.0.0.1:{server.port}/postgres"
    try:
        (pgdata / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("select pg_reload_conf()")
        with psycopg.connect(anonymous) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        pgserver.stop(pgdata)
        again = pgserver.start(pgdata, pgserver.free_port())
        anonymous = anonymous.replace(str(server.port), str(again.port))
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(anonymous, passfile="/nonexistent")
        with psycopg.connect(again.url()) as conn:
            assert conn.execute("select session_user").fetchone() == (pgserver.SUPERUSER,)
    finally:
        pgserver.destroy(pgdata)
    assert not pgserver.password_file(pgdata).exists()


@pytest.mark.slow
def test_cli_uses_embedded_server_when_database_url_unset(tmp_path: Path) -> None:
    """Without DATABASE_URL, migrate starts the embedded server in DATA_DIR; db stop ends it."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DATA_DIR=str(tmp_path), EMBEDDED_PG_PORT=str(pgserver.free_port()))
    try:
        done = cli("migrate", env=env)
        assert done.returncode == 0, done.stderr
        assert "0001_market_tables" in done.stdout
        again = cli("migrate", env=env)
        assert "up to date" in again.stdout
        url = cli("db", "url", env=env).stdout.strip()
        with psycopg.connect(url) as conn:
            assert conn.execute("select to_regclass('market.klines_1m')").fetchone()[0]
        assert cli("db", "stop", env=env).stdout.strip() == "stopped"
        assert pgserver.status(tmp_path / "pg") is None
    finally:
        pgserver.destroy(tmp_path / "pg")


def test_cli_reports_unreachable_database_in_one_line() -> None:
    """A DATABASE_URL nobody answers gives exit 1 and a single error line, not a traceback."""
    env = dict(os.environ, DATABASE_URL=f"postgresql://x@127.0.0.1:{pgserver.free_port()}/db")
    done = cli("migrate", env=env)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "connection" in errors[0]
    assert "Traceback" not in done.stderr
