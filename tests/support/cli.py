"""`python -m include.cli` as a user runs it: from the project root, output captured."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

from tests.support.paths import PROJECT_ROOT


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one command of the CLI (``env``: the whole environment; None: this process's)."""
    return subprocess.run(
        [sys.executable, "-m", "include.cli", *args],
        cwd=PROJECT_ROOT,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
