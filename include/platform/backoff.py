"""The delay policy of the long-running loops (reconnects, a lost database, the clock, helpers).

These loops are sessions, not retries of one call: a connection or the writer runs, is lost and
comes back, and the delay starts over once a session proves stable (``reset``), between waits a
stop event cuts short. tenacity (streamer/retries.py) retries one call until a deadline and has
no public reset between attempts, so the doubling is written out here instead of feeding its
wait strategies a hand-made call state.
"""

from __future__ import annotations

import random


class Backoff:
    """One retry policy: the nth delay in a row is ``initial * 2**(n-1)``, at most ``maximum``,
    scaled by a random factor in [0.5, 1.5) (``jitter``) so shards retrying together spread out.

    ``reset`` starts over (a session that proved stable earned it).
    """

    def __init__(self, initial: float, maximum: float, *, jitter: bool = True) -> None:
        self._initial = initial
        self._maximum = maximum
        self._jitter = jitter
        self._failures = 0

    def next(self) -> float:
        """The delay before the next attempt (one more failure in a row)."""
        self._failures += 1
        try:
            delay = min(self._initial * 2 ** (self._failures - 1), self._maximum)
        except OverflowError:  # 2**n past a float's range: a loop down for a very long time
            delay = self._maximum
        return delay * (0.5 + random.random()) if self._jitter else delay

    def reset(self) -> None:
        """The next delay is the initial one again."""
        self._failures = 0
