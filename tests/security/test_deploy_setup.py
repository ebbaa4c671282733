"""scripts/setup*.sh install a pip of a fixed version and hash, never whatever `--upgrade`
finds on the index (issue #42, item 13)."""

from __future__ import annotations

import re

from tests.support.paths import PROJECT_ROOT

SCRIPTS = ("setup.sh", "setup-freqtrade.sh")


def test_no_install_is_an_unpinned_upgrade() -> None:
    """No pip command upgrades anything, and each venv's pip comes from requirements-pip.txt,
    one version with its sha256, installed with --require-hashes."""
    for name in SCRIPTS:
        text = (PROJECT_ROOT / "scripts" / name).read_text()
        pip_lines = [line for line in text.splitlines() if "pip install" in line]
        assert pip_lines, name
        assert not [line for line in pip_lines if "--upgrade" in line or " -U " in line], name
        assert any("--require-hashes -r requirements-pip.txt" in line for line in pip_lines), name
    pins = (PROJECT_ROOT / "requirements-pip.txt").read_text()
    assert re.search(r"^pip==[0-9.]+ \\\n\s+--hash=sha256:[0-9a-f]{64}$", pins, re.M)


def test_the_pinned_pip_is_the_one_installed() -> None:
    """The pin is a pip that installs here: the version of the venv's own pip."""
    from importlib.metadata import version

    pins = (PROJECT_ROOT / "requirements-pip.txt").read_text()
    assert re.search(r"^pip==(\S+)", pins, re.M)[1] == version("pip")
