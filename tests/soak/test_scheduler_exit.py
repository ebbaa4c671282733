"""Airflow's scheduler, as the platform runs it, exits after its database went away even when a
LocalExecutor worker never stops, so that run.sh's supervisor (or docker's `restart:`) starts it
again. Seen in the soak: after a PostgreSQL restart the scheduler waited on such a worker for
good, alive and idle, and no DAG run was scheduled again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from include.platform.executor import LocalExecutor
from tests.soak.harness import base, wait_for
from tests.support.signals import kill_stopped


def workers(pid: int) -> list[int]:
    """The scheduler's LocalExecutor workers (their process title names them)."""
    return [
        child.pid
        for child in psutil.Process(pid).children()
        if "LocalExecutor" in " ".join(child.cmdline())
    ]


@pytest.mark.slow
def test_the_scheduler_exits_after_a_database_restart_with_a_worker_stuck(
    tmp_path: Path,
) -> None:
    stuck: list[int] = []
    # Nothing here talks to the exchange: its URL only has to be one.
    with base(tmp_path) as b:
        try:
            scheduler = b.procs.start("scheduler", ["airflow", "scheduler"], b.env)
            pids = wait_for("the scheduler's workers", lambda: workers(scheduler.pid), timeout=180)
            stuck.append(pids[0])
            os.kill(pids[0], signal.SIGSTOP)
            b.db.stop()
            # Down for two of the scheduler's heartbeats (5 s): in a CI run on two busy cores a
            # 2 s outage fell between its queries, it logged nothing of it and ran on.
            time.sleep(10)
            b.db.start()
            bound = LocalExecutor.stop_grace + 2 * LocalExecutor.kill_grace
            try:
                code = scheduler.popen.wait(bound + 90)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"the scheduler is still running {bound + 90:.0f} s after the restart:\n"
                    + scheduler.tail()
                ) from None
            log = scheduler.tail(20_000)
            # A failure exit, which the supervisor answers with a restart.
            assert code != 0, log[-3000:]
            assert "did not stop in" in log, log[-3000:]
            assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == "zombie"
        finally:
            kill_stopped(stuck)
