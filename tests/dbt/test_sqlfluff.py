"""The dbt project's SQL passes sqlfluff (dbt templater, postgres dialect, .sqlfluff)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from include.timeframes import dbt_env
from tests.support.paths import PROJECT_ROOT


@pytest.mark.slow
def test_dbt_models_and_tests_pass_sqlfluff(database_url):
    """Every model and singular test lints clean, as dbt Labs' style asks (a violation fails)."""
    done = subprocess.run(
        [sys.executable, "-m", "sqlfluff", "lint", "models", "tests", "--disable-progress-bar"],
        cwd=PROJECT_ROOT / "dbt_project",
        env={**os.environ, **dbt_env(database_url)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "FAIL" not in done.stdout, report
