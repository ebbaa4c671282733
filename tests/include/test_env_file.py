"""Every entry point reads .env; the environment wins over it; secrets are not printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT


def run_config(env_file: Path, **env: str) -> str:
    """`python -m include.cli config` started by hand, as a user would, outside make."""
    base = {k: v for k, v in os.environ.items() if k not in ("SYMBOLS", "DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "include.cli", "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        env={**base, "ENV_FILE": str(env_file), **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_reads_dotenv_and_environment_wins(tmp_path: Path) -> None:
    """Values come from .env when the environment lacks them; a password never shows."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "SYMBOLS=DOGEUSDT SOLUSDT\nDATABASE_URL=postgresql://me:s3cr%40t@db.example:5432/binance\n"
    )
    out = run_config(env_file)
    assert "SYMBOLS=DOGEUSDT SOLUSDT" in out
    assert "DATABASE_URL=postgresql://me:***@db.example:5432/binance" in out
    assert "s3cr" not in out
    assert "SYMBOLS=BTCUSDT" in run_config(env_file, SYMBOLS="BTCUSDT")
