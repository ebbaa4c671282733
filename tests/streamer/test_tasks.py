"""The streamer's background work ends at stop, even where a library loses a cancellation."""

from __future__ import annotations

import asyncio
import time

from streamer.tasks import Tasks


async def test_a_helper_that_loses_its_cancellation_still_ends_at_stop() -> None:
    """A cancellation delivered inside a shielded close (httpx's, through anyio) can be lost:
    the helper's request returns as if nothing happened and it goes back to its 60 s sleep.
    Stopping must not wait for that sleep (CI saw a stop outlast 40 s so): the cancellation
    is delivered again until every task has ended."""
    tasks = Tasks()
    lost = []

    async def clock_sync() -> None:
        while True:
            try:
                await asyncio.sleep(0.05)  # the request, whose close swallows the cancel
            except asyncio.CancelledError:
                if not lost:
                    lost.append(True)
                    asyncio.current_task().uncancel()
                    continue
                raise
            await asyncio.sleep(60)

    helper = asyncio.ensure_future(tasks.keep_running("clock", clock_sync))
    repair = tasks.spawn(asyncio.sleep(60), "repair BTCUSDT")
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await asyncio.wait_for(tasks.cancel(helper), 10)
    assert lost, "the helper never lost a cancellation: the test proves nothing"
    assert helper.done()
    assert repair.done()
    assert time.monotonic() - started < 5
    assert not tasks.running
