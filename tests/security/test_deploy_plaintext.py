"""Beyond loopback, the API and Airflow refuse plain HTTP unless the user opts out in so many
words (issue #42, item 12)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.config import ApiConfig
from tests.support.cli import run_in_project
from tests.support.paths import PROJECT_ROOT


def start_api(database_url: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m api` with these settings, run until it exits (or 30 s: it started)."""
    full = {**os.environ, "API_PORT": "0", "API_GRPC_PORT": "0", "DATABASE_URL": database_url}
    for name in ("API_TLS_CERT", "API_TLS_KEY", "API_ALLOW_PLAINTEXT"):
        full.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "api"],
        cwd=PROJECT_ROOT,
        env={**full, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_api_refuses_plain_http_beyond_loopback(database_url: str) -> None:
    """API_HOST=0.0.0.0 with tokens but no certificate: exit 2, one line naming the way out."""
    done = start_api(database_url, API_HOST="0.0.0.0", API_TOKENS="s3cret")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "api: API_HOST=0.0.0.0 is not loopback: set API_TLS_CERT and API_TLS_KEY, or "
        "API_ALLOW_PLAINTEXT=true to send tokens and candles unencrypted"
    ]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "api.example.com"])
def test_every_exposed_address_needs_tls_or_the_opt_out(host: str) -> None:
    """Any bind beyond loopback is refused without TLS; API_ALLOW_PLAINTEXT lets it start."""
    config = ApiConfig(database_url="postgresql://x@h/db", host=host, tokens=frozenset({"t"}))
    with pytest.raises(ValueError, match="API_ALLOW_PLAINTEXT=true"):
        config.check()
    config.with_(allow_plaintext=True).check()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_tls(host: str) -> None:
    """On loopback nothing crosses a network: plain HTTP is fine."""
    ApiConfig(database_url="postgresql://x@h/db", host=host).check()


def run_sh(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """scripts/run.sh with DATA_DIR in tmp_path and these settings, stopped after 60 s at most."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DATABASE_URL"))}
    full.update(DATA_DIR=str(tmp_path / "data"), **env)
    return run_in_project(["bash", str(PROJECT_ROOT / "scripts" / "run.sh")], full, timeout=60)


def test_airflow_beyond_loopback_refuses_plain_http_before_anything_starts(
    tmp_path: Path,
) -> None:
    """AIRFLOW__API__HOST=0.0.0.0 with a password but no certificate: run.sh stops with one
    line naming the way out, before it starts a database or any process."""
    done = run_sh(tmp_path, AIRFLOW__API__HOST="0.0.0.0", AIRFLOW_ADMIN_PASSWORD="p@ss")
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "error: AIRFLOW__API__HOST=0.0.0.0 is not loopback: set AIRFLOW__API__SSL_CERT and "
        "AIRFLOW__API__SSL_KEY, or AIRFLOW_ALLOW_PLAINTEXT=true to send logins unencrypted"
    ]
    assert not (tmp_path / "data").exists()
