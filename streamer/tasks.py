"""Background work of the streamer: tasks cancelled at shutdown, helpers kept running."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from include.platform.backoff import Backoff

logger = logging.getLogger(__name__)

# How long a cancelled task may take to end before it is cancelled again (see Tasks.cancel).
CANCEL_AGAIN_S = 1.0

# Tasks.spawn, as the parts receive it: a coroutine and its name -> a background task.
Spawn = Callable[[Coroutine[Any, Any, None], str], asyncio.Task]


class Tasks:
    """Short tasks (repairs, probes, seeds) spawned and cancelled together, and the helpers
    that run as long as the process (the prober, the listing follower, the exchange clock)."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task] = set()
        # Helpers that failed and were started again, by name (see keep_running).
        self.restarts: dict[str, int] = {}

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task:
        """A background task, cancelled at shutdown; its failure is logged when it happens."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.running.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        # A background task that dies must say so at once, not when it is garbage-collected.
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "background task %s failed",
                task.get_name(),
                exc_info=task.exception(),
                extra={"task": task.get_name()},
            )

    async def keep_running(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A helper that runs as long as the process: one that fails is logged, counted in
        /healthz and started again (after 1 s, backing off to 30 s), never left dead while the
        stream goes on."""
        backoff = Backoff(1.0, 30.0, jitter=False)
        while True:
            try:
                await run()
                return
            except Exception:
                self.restarts[name] = self.restarts.get(name, 0) + 1
                logger.exception("%s failed; starting it again", name, extra={"task": name})
                await asyncio.sleep(backoff.next())

    async def cancel(self, *others: asyncio.Future) -> None:
        """Cancel every spawned task and ``others``, and wait for them to end.

        A cancellation that arrives inside a library's shielded close (httpx's, through anyio)
        can be lost: the request returns as if nothing happened and a helper goes back to its
        minute-long sleep. So it is delivered again, each second, until every task has ended.
        """
        tasks = [*others, *self.running]
        pending = set(tasks)
        while pending:
            for t in pending:
                t.cancel()
            _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_S)
        await asyncio.gather(*tasks, return_exceptions=True)
