"""The scheduler's executor (include/platform/executor.py) stops within its bounds even when a
worker does not, so a scheduler whose loop failed exits and its supervisor starts it again."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from airflow.executors import local_executor

from include.platform.executor import LocalExecutor
from tests.support.signals import kill_stopped


def started(cls: type[local_executor.LocalExecutor]) -> local_executor.LocalExecutor:
    executor = cls(parallelism=2)
    executor.start()
    assert len(executor.workers) == 2, "the workers are forked at start"
    return executor


def end_in_thread(executor: local_executor.LocalExecutor) -> threading.Thread:
    thread = threading.Thread(target=executor.end, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def stopped_workers() -> Iterator[list[int]]:
    """Worker pids the test SIGSTOPs (a worker that never takes its stop message); each is
    continued and killed afterwards, whatever happened."""
    pids: list[int] = []
    yield pids
    kill_stopped(pids)


@pytest.mark.slow
def test_airflow_s_own_end_waits_for_ever_on_a_worker_that_does_not_stop(
    stopped_workers: list[int],
) -> None:
    """Why the platform brings its own: Airflow's end() is still joining a stopped worker after
    5 s, and returns only once the worker goes on. If a release of Airflow bounds it, this
    fails, and include/platform/executor.py can go."""
    executor = started(local_executor.LocalExecutor)
    pid = next(iter(executor.workers))
    os.kill(pid, signal.SIGSTOP)
    stopped_workers.append(pid)
    thread = end_in_thread(executor)
    thread.join(5)
    assert thread.is_alive(), "Airflow's LocalExecutor.end() returned with a worker stopped"
    os.kill(pid, signal.SIGCONT)
    thread.join(10)
    assert not thread.is_alive()


def test_end_stops_a_worker_that_does_not_stop_within_its_bounds(
    stopped_workers: list[int],
) -> None:
    executor = started(LocalExecutor)
    executor.stop_grace, executor.kill_grace = 2.0, 1.0
    procs = list(executor.workers.values())
    pid = procs[0].pid
    os.kill(pid, signal.SIGSTOP)
    stopped_workers.append(pid)
    began = time.monotonic()
    thread = end_in_thread(executor)
    thread.join(15)
    assert not thread.is_alive(), "end() still waiting 15 s on with bounds of 2 s + 1 s + 1 s"
    assert time.monotonic() - began >= 2.0, "the stuck worker was not given its grace"
    # Both gone and reaped: the stopped one killed, the other one stopped on its message.
    for proc in procs:
        with pytest.raises(ValueError, match="closed"):
            proc.is_alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_idle_workers_stop_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """The bounds cost nothing when the workers stop as asked: with bounds of ten minutes,
    end() returns as soon as they have, none terminated."""
    executor = started(LocalExecutor)
    executor.stop_grace, executor.kill_grace = 600.0, 600.0
    procs = list(executor.workers.values())
    thread = end_in_thread(executor)
    # Far short of the bounds: returning before them means no bound was waited out.
    thread.join(120)
    assert not thread.is_alive(), "end() waited out its bounds"
    assert "did not stop" not in caplog.text
    for proc in procs:
        with pytest.raises(ValueError, match="closed"):
            proc.is_alive()
