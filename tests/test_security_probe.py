"""scripts/security_probe.py, the pass of issue #42's attacks against a running platform: it
imports without a platform and its --help says how to run it and read its output (the pass
itself needs `make demo`: docs/security.md "Probing a running deployment")."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from tests.support.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "security_probe.py"


def test_the_probe_imports_and_lists_its_probes() -> None:
    spec = importlib.util.spec_from_file_location("security_probe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = [step.__name__ for step in module.STEPS]
    assert len(set(names)) == len(names) >= 12
    assert all(name.startswith("probe_") for name in names)
    # The weight limit is spent last of the metered probes, the push's attacks after all.
    assert names[-2:] == ["probe_forwarded_for", "probe_grpc_same_budget"]


def test_the_probes_help_says_how_to_read_it() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    assert "HELD <name>" in done.stdout
    assert "BROKEN <name>" in done.stdout
