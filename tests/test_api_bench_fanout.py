"""The fan-out bench runs end to end at a small size: its clients, both servers, its figures.

`--help` (test_bench_help.py) only proves a bench imports; the fan-out section was broken for
sessions (its clients all came from one address, over the API's per-address caps) with nothing
to notice. This runs it with 20 subscribers and no history (`--days 0`), its results written
to a directory of the test's (BENCH_RESULTS_DIR), not bench/results/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_the_fanout_bench_runs_and_every_client_gets_every_event(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "BENCH_RESULTS_DIR": str(tmp_path)}
    for name in ("DATABASE_URL", "BENCH_DATABASE_URL"):
        env.pop(name, None)
    env["DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "bench/api_bench.py", "--sections", "fanout", "--days", "0",
         "--symbols", "1", "--subscribers", "20", "--events", "3", "--event-gap", "0.2",
         "--rounds", "2", "--client-processes", "2"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("round ") == 2
    figures = json.loads((tmp_path / "api_bench-fanout.json").read_text())["figures"]
    line = figures["20 subscribers, commits 0.2 s apart"]
    assert "received 100%, 0 dropped" in line
    assert "the servers' own time per event" in line
    assert "nan" not in line
