"""Airflow asks for a login (401 without a token, 200 with one) and answers only the Host
names it is served under (a DNS-rebinding page's name gets 400)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from include.platform import pgserver
from tests.support.airflow_server import api_server, login_env

pytestmark = pytest.mark.slow


def test_exposed_api_requires_a_login(airflow_home: Path, tmp_path: Path) -> None:
    """The settings run.sh applies when AIRFLOW__API__HOST is not loopback."""
    port = pgserver.free_port()
    passwords = tmp_path / "passwords.json"
    env = login_env(passwords, 'p@ss "word"', AIRFLOW_ALLOWED_HOSTS="airflow.example.internal")
    with api_server(env, port, up_within=120) as base:
        assert passwords.stat().st_mode & 0o777 == 0o600
        assert httpx.get(f"{base}/api/v2/dags", timeout=10).status_code == 401
        # A page whose name resolves to 127.0.0.1 (DNS rebinding) sends its own name as Host.
        for path in ("/api/v2/dags", "/api/v2/dags/data_quality", "/auth/token", "/"):
            foreign = httpx.get(base + path, headers={"Host": "rebind.attacker.test"}, timeout=10)
            assert foreign.status_code == 400, (path, foreign.status_code)
        # The public health report answers any Host: Kubernetes probes send the pod's IP.
        probe = httpx.get(f"{base}/api/v2/monitor/health", headers={"Host": "10.1.2.3:8080"})
        assert probe.status_code == 200
        for host in ("localhost", f"localhost:{port}", "airflow.example.internal"):
            named = httpx.get(f"{base}/api/v2/monitor/health", headers={"Host": host}, timeout=10)
            assert named.status_code == 200, (host, named.status_code)
        wrong = httpx.post(
            f"{base}/auth/token", json={"username": "admin", "password": "nope"}, timeout=10
        )
        assert wrong.status_code in (401, 403)
        token = httpx.post(
            f"{base}/auth/token",
            json={"username": "admin", "password": 'p@ss "word"'},
            timeout=10,
        )
        assert token.status_code in (200, 201), token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert httpx.get(f"{base}/api/v2/dags", headers=headers, timeout=10).status_code == 200


def test_allowed_hosts_are_the_names_the_api_server_is_served_under() -> None:
    """Loopback, the listening address, the base URL's and the task runners' host, and
    AIRFLOW_ALLOWED_HOSTS; a wildcard listening address adds nothing."""
    from include.platform.trusted_hosts import allowed_hosts

    assert allowed_hosts({}) == ["localhost", "127.0.0.1"]
    env = {
        "AIRFLOW__API__HOST": "0.0.0.0",
        "AIRFLOW__API__BASE_URL": "https://airflow.example.com/",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://airflow-apiserver:8080/execution/",
        "AIRFLOW_ALLOWED_HOSTS": " *.corp.example , 10.0.0.5",
    }
    assert allowed_hosts(env) == [
        "localhost",
        "127.0.0.1",
        "airflow.example.com",
        "airflow-apiserver",
        "*.corp.example",
        "10.0.0.5",
    ]
