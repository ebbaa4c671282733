"""Airflow's LocalExecutor with a shutdown that cannot hang the scheduler.

Airflow 3.3's `LocalExecutor.end()` joins each worker process with no timeout. The scheduler
calls it on its way out, also when its loop failed because the metadata database went away for
a moment, so that a supervisor (run.sh's, docker's `restart:`) can start it again. A worker that
never takes its stop message (apache/airflow#67870; seen here once in the soak, after a
PostgreSQL restart) then keeps the scheduler alive and idle for good: no heartbeat, no task
scheduled, and no exit for the supervisor to act on.

Here the workers get `stop_grace` seconds to finish what they run and stop; the ones left are
terminated, then killed. Everything else is Airflow's own executor. The platform names this
class in AIRFLOW__CORE__EXECUTOR (scripts/env.sh, docker-compose.yml); its name ends in
LocalExecutor, as Airflow's checks for a local executor expect.
"""

from __future__ import annotations

import multiprocessing
import time

from airflow.executors import local_executor


class LocalExecutor(local_executor.LocalExecutor):
    """LocalExecutor whose `end()` is bounded: `stop_grace` seconds for the workers to stop,
    then SIGTERM, then SIGKILL (`kill_grace` seconds each)."""

    # Long enough for a short task to finish; the platform's own stop (run.sh, docker) signals
    # every process well before that anyway.
    stop_grace: float = 30.0
    kill_grace: float = 5.0

    def end(self) -> None:
        """Stop the workers within the bounds, reading their results meanwhile (a worker
        blocked on a full result pipe could not stop otherwise), then close the queues."""
        self.log.info(
            "Shutting down LocalExecutor; waiting up to %.0f s for running tasks to finish",
            self.stop_grace,
        )
        alive = [proc for proc in self.workers.values() if proc.is_alive()]
        for _ in alive:
            self.activity_queue.put(None)
        self._join(alive, self.stop_grace)
        stuck = [proc for proc in alive if proc.is_alive()]
        if stuck:
            self.log.warning(
                "LocalExecutor workers %s did not stop in %.0f s: terminating them",
                [proc.pid for proc in stuck],
                self.stop_grace,
            )
            # A forked worker inherits the scheduler's SIGTERM handler, which does nothing
            # outside the scheduler's own process: there the kill below is what ends it.
            for proc in stuck:
                proc.terminate()
            self._join(stuck, self.kill_grace)
            for proc in stuck:
                if proc.is_alive():
                    proc.kill()
            self._join(stuck, self.kill_grace)
        for proc in self.workers.values():
            if not proc.is_alive():
                proc.close()
        self._read_results()
        self.activity_queue.close()
        self.result_queue.close()

    def _join(self, procs: list[multiprocessing.Process], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for proc in procs:
            while proc.is_alive() and (left := deadline - time.monotonic()) > 0:
                self._read_results()
                proc.join(min(0.5, left))


# The path AIRFLOW__CORE__EXECUTOR names this executor by (scripts/env.sh and
# docker-compose.yml spell it out; tests/test_docker_compose.py holds compose to this).
NAME = f"{LocalExecutor.__module__}.{LocalExecutor.__qualname__}"
