"""The tools scripts/setup.sh provides the tests, and what a missing one means: skipped where
set-up recorded it could not install it here (no apt, no root), a broken set-up anywhere else."""

from __future__ import annotations

import pytest

from tests.support.paths import PROJECT_ROOT

# Written by scripts/setup.sh: one line per package it could not install, "<package>: <why>".
WITHOUT = PROJECT_ROOT / ".venv" / "setup-without"


def without() -> dict[str, str]:
    """The packages set-up recorded it could not install here, with why."""
    if not WITHOUT.exists():
        return {}
    lines = (line.partition(":") for line in WITHOUT.read_text().splitlines() if line.strip())
    return {name.strip(): why.strip() for name, _, why in lines}


def require(package: str, present: bool, needed_by: str) -> None:
    """Skip when set-up said it cannot install ``package`` here; fail when it is simply missing:
    set-up installs it, so its absence is a broken set-up, and a skip would hide that."""
    if present:
        return
    why = without().get(package)
    if why is not None:
        pytest.skip(f"{package} is not installed here ({why}); {needed_by} needs it")
    pytest.fail(
        f"{package} is missing: scripts/setup.sh installs it for {needed_by}; "
        "run make setup-tests (a broken set-up, not a skip)",
        pytrace=False,
    )
