"""Every benchmark the README quotes starts: its imports still resolve after a refactor.

A bench is run by hand, so nothing else notices when a moved module breaks it (the last
regrouping of include/ left scale_bench.py failing at import until it was next run).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import PROJECT_ROOT

BENCHES = sorted(path.name for path in (PROJECT_ROOT / "bench").glob("*_bench.py"))


def test_the_readme_quotes_benches_that_exist():
    readme = (PROJECT_ROOT / "docs" / "benchmarks.md").read_text()
    assert BENCHES
    assert [name for name in BENCHES if f"bench/{name}" not in readme] == []


@pytest.mark.parametrize("name", BENCHES)
def test_bench_starts_and_prints_its_usage(name):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, f"bench/{name}", "--help"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"bench/{name} --help: {result.stderr.strip()[-500:]}"
    assert "usage:" in result.stdout
