"""Installs are locked: every pinned file's sha256 is recorded and setup refuses anything else."""

from __future__ import annotations

import re

import pytest

from tests.support.paths import PROJECT_ROOT


@pytest.mark.parametrize(
    "name",
    [
        "requirements-pip.txt",
        "requirements.txt",
        "requirements-nodeps.txt",
        "requirements-freqtrade.txt",
    ],
)
def test_every_pin_carries_its_hash(name: str) -> None:
    text = (PROJECT_ROOT / name).read_text()
    entries = re.findall(
        r"^([^#\s][^\n]*?)(?:\s*\\\n\s+--hash=sha256:([0-9a-f]{64}))?$", text, re.M
    )
    pins = [(line, digest) for line, digest in entries if "==" in line]
    assert pins, name
    assert [line for line, digest in pins if not digest] == []


def test_setup_and_image_install_with_require_hashes() -> None:
    setup = (PROJECT_ROOT / "scripts" / "setup.sh").read_text()
    assert "bash scripts/setup-freqtrade.sh" in setup
    setup += (PROJECT_ROOT / "scripts" / "setup-freqtrade.sh").read_text()
    installs = [line for line in setup.splitlines() if "pip install" in line and " -r " in line]
    # pip itself (requirements-pip.txt) in each venv, then the venvs' three files.
    assert len(installs) == 5
    assert all("--require-hashes" in line for line in installs)
    assert (
        "pip install --require-hashes -r requirements.txt"
        in (PROJECT_ROOT / "Dockerfile").read_text()
    )
