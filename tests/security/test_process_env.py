"""`make run` gives each process only its own settings (issue #42, item 10): the API and the
streamer never hold Airflow's admin password, its metadata role's, its JWT secret or its
Fernet key, and Airflow's parts never hold the administrator's or the API's tokens."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from include.platform.process_env import process_env
from tests.support.paths import PROJECT_ROOT

# All of .env as env.sh exports it to run.sh: every secret the platform knows.
SECRETS = {
    "POSTGRES_PASSWORD": "pg-admin-secret",
    "DATABASE_URL": "postgresql://binance:pg-admin-secret@db/binance",
    "PGPASSWORD": "pg-admin-secret",
    "AIRFLOW_ADMIN_PASSWORD": "airflow-admin-secret",
    "AIRFLOW_DATABASE_PASSWORD": "airflow-db-secret",
    "AIRFLOW_FERNET_KEY": "fernet-secret",
    "AIRFLOW_JWT_SECRET": "jwt-secret",
    "AIRFLOW__CORE__FERNET_KEY": "fernet-secret",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:airflow-db-secret@db/a",
    "REDIS_PASSWORD": "redis-secret",
    "API_TOKENS": "api-token-secret",
    "STREAMER_DATABASE_URL": "postgresql://streamer_writer:streamer-secret@db/binance",
    "LOADER_DATABASE_URL": "postgresql://history_loader:loader-secret@db/binance",
    "DBT_DATABASE_URL": "postgresql://dbt_builder:dbt-secret@db/binance",
    "API_DATABASE_URL": "postgresql://analytics_reader:reader-secret@db/binance",
}
AIRFLOWS = {"airflow-admin-secret", "airflow-db-secret", "fernet-secret", "jwt-secret"}
OWN = {
    "streamer": {"streamer-secret"},
    "api": {"api-token-secret", "reader-secret"},
    "airflow": {"airflow-db-secret", "fernet-secret", "jwt-secret"}
    | {"loader-secret", "dbt-secret", "reader-secret"},
    "bootstrap": {"loader-secret", "dbt-secret"},
    "live": {"reader-secret"},
    "fakebinance": set(),
}
EVERY_SECRET = set().union(*OWN.values(), AIRFLOWS, {"pg-admin-secret", "redis-secret"})


def secrets_in(env: dict[str, str]) -> set[str]:
    text = "\n".join(f"{k}={v}" for k, v in env.items())
    return {secret for secret in EVERY_SECRET if secret in text}


@pytest.mark.parametrize("process", sorted(OWN))
def test_each_process_holds_its_own_secrets_only(process: str) -> None:
    """From the whole of .env, a process keeps exactly its own secrets; none but Airflow's
    parts hold anything of Airflow's, and no one the administrator's or the broker's."""
    env = process_env(process, {**os.environ, **SECRETS})
    assert secrets_in(env) == OWN[process]
    assert env["ENV_FILE"] == os.devnull, "it would read the whole .env again by itself"
    assert "DATABASE_URL" not in env


@pytest.mark.parametrize("module", ["streamer", "api"])
def test_each_service_keeps_every_variable_it_reads(module: str) -> None:
    """Every variable `python -m streamer --help` / `python -m api --help` lists (the
    administrator's DATABASE_URL aside) reaches that service."""
    import importlib

    names = importlib.import_module(f"{module}.__main__").ENVIRONMENT
    given = {name: "x" for name in names}
    env = process_env(module, given)
    assert set(given) - set(env) == {"DATABASE_URL"}


def test_a_started_service_and_its_supervisor_hold_only_its_settings(tmp_path: Path) -> None:
    """run.sh's own functions (scripts/processes.sh) start a supervised service: neither the
    supervisor nor the service has any other process's secret in /proc/PID/environ."""
    (tmp_path / "logs").mkdir()
    script = (
        f". {PROJECT_ROOT}/scripts/env.sh && . {PROJECT_ROOT}/scripts/processes.sh && "
        'api_env=(API_DATABASE_URL="$READER") && '
        "start_supervised_with api_env api sleep 300 && "
        'echo "${children[0]}" && wait'
    )
    reader = SECRETS["API_DATABASE_URL"]
    env = {**os.environ, **SECRETS, "DATA_DIR": str(tmp_path), "READER": reader}
    del env["API_DATABASE_URL"]
    run = subprocess.Popen(
        ["bash", "-c", script], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        supervisor = psutil.Process(int(run.stdout.readline()))
        deadline = time.monotonic() + 60
        while not (service := [p for p in supervisor.children() if p.name() == "sleep"]):
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
        for proc in (supervisor, *service):
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes().decode()
            held = secrets_in(dict(line.split("=", 1) for line in environ.split("\0") if line))
            assert held == OWN["api"], proc.cmdline()
    finally:
        # run.sh's shell and the supervisor each lead a process group of their own.
        groups = {run.pid}
        with contextlib.suppress(psutil.Error):
            groups |= {os.getpgid(p.pid) for p in psutil.Process(run.pid).children(recursive=True)}
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
        run.wait(timeout=30)
