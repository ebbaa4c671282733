"""Airflow asks for a login by default: a password is generated once, kept and shown once."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.support.paths import PROJECT_ROOT


def passwords(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "include.cli", "airflow-passwords", str(tmp_path / "pw.json")],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_ADMIN")},
            "DATA_DIR": str(tmp_path / "data"),
            "PYTHONPATH": str(PROJECT_ROOT),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_without_a_password_one_is_generated_kept_and_shown_once(tmp_path: Path) -> None:
    first = passwords(tmp_path)
    kept = tmp_path / "data" / "secrets" / "airflow-admin.password"
    password = kept.read_text().strip()
    assert len(password) >= 32
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert first.stdout.strip() == f"Airflow login: admin / {password} (generated, kept in {kept})"
    assert json.loads((tmp_path / "pw.json").read_text()) == {"admin": password}
    assert stat.S_IMODE((tmp_path / "pw.json").stat().st_mode) == 0o600
    again = passwords(tmp_path)
    assert again.stdout == ""
    assert json.loads((tmp_path / "pw.json").read_text()) == {"admin": password}


def test_a_password_given_wins_and_nothing_is_generated(tmp_path: Path) -> None:
    done = passwords(tmp_path, AIRFLOW_ADMIN_PASSWORD='p@ss "w0rd" $HOME', AIRFLOW_ADMIN_USER="me")
    assert done.stdout == ""
    assert json.loads((tmp_path / "pw.json").read_text()) == {"me": 'p@ss "w0rd" $HOME'}
    assert not (tmp_path / "data" / "secrets" / "airflow-admin.password").exists()


def test_run_sh_never_turns_the_all_admins_mode_on() -> None:
    """No script of `make run`/`make demo` leaves Airflow without a login, loopback or not."""
    for script in ("env.sh", "run.sh"):
        text = (PROJECT_ROOT / "scripts" / script).read_text()
        assert "SIMPLE_AUTH_MANAGER_ALL_ADMINS:-True" not in text
        assert "SIMPLE_AUTH_MANAGER_ALL_ADMINS=True" not in text
    assert (
        "SIMPLE_AUTH_MANAGER_ALL_ADMINS=False" in (PROJECT_ROOT / "scripts" / "run.sh").read_text()
    )
