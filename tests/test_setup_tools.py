"""A tool set-up installs is never silently skipped: missing, its tests fail, unless set-up
recorded that it could not install it here (no apt, no root)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import setup_tools
from tests.support.paths import PROJECT_ROOT


def test_a_missing_tool_fails_unless_set_up_could_not_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(setup_tools, "WITHOUT", tmp_path / "setup-without")
    setup_tools.require("chromium", True, "a test")
    with pytest.raises(pytest.fail.Exception, match="broken set-up"):
        setup_tools.require("chromium", False, "a test")
    (tmp_path / "setup-without").write_text("chromium: no apt-get\n")
    with pytest.raises(pytest.skip.Exception, match="no apt-get"):
        setup_tools.require("chromium", False, "a test")
    with pytest.raises(pytest.fail.Exception):
        setup_tools.require("redis-server", False, "a test")


def test_no_test_skips_on_its_own() -> None:
    """A skip CI would take hides a broken set-up: tests skip only through setup_tools."""
    skips = re.compile(r"pytest\.skip\(|skipif\(|importorskip\(")
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}"
        for path in sorted((PROJECT_ROOT / "tests").rglob("*.py"))
        if path.name not in {"setup_tools.py", "test_setup_tools.py"}
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if skips.search(line)
    ]
    assert found == []
