"""Airflow's api-server as the platform runs it, for the tests of its doors: the admin's
password written by the platform's own command, then the server on a loopback port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.support.cli import wait_healthy
from tests.support.paths import PROJECT_ROOT


def login_env(passwords: Path, password: str, **extra: str) -> dict[str, str]:
    """The environment of an api-server that asks admin for ``password`` (the simple auth
    manager's passwords file at ``passwords``), with the platform's plugin."""
    return dict(
        os.environ,
        PYTHONPATH=str(PROJECT_ROOT),
        AIRFLOW_ADMIN_USER="admin",
        AIRFLOW_ADMIN_PASSWORD=password,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(PROJECT_ROOT / "plugins"),
        AIRFLOW__API__HOST="127.0.0.1",
        **extra,
    )


@contextlib.contextmanager
def api_server(env: dict[str, str], port: int, up_within: float) -> Iterator[str]:
    """Write the passwords file (`include.cli airflow-passwords`), start `airflow api-server`
    on 127.0.0.1:port and wait for its health report; yield its base URL; stop it after."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "include.cli",
            "airflow-passwords",
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"],
        ],
        env=env,
        check=True,
        timeout=60,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/api/v2/monitor/health", up_within, "api-server did not come up", 1)
        yield base
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
