"""One retry policy for the long-running loops (reconnects, a lost database, the clock)."""

from __future__ import annotations

import random

from tenacity import RetryCallState, wait_exponential


class Backoff:
    """One retry policy: the nth delay in a row is ``initial * 2**(n-1)``, at most ``maximum``,
    scaled by a random factor in [0.5, 1.5) (``jitter``) so shards retrying together spread out.

    ``reset`` starts over (a session that proved stable earned it).
    """

    def __init__(self, initial: float, maximum: float, *, jitter: bool = True) -> None:
        self._wait = wait_exponential(multiplier=initial, max=maximum)
        self._jitter = jitter
        self._failures = 0

    def next(self) -> float:
        """The delay before the next attempt (one more failure in a row)."""
        self._failures += 1
        # tenacity's strategies read only the attempt number off the call state.
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = self._failures
        delay = self._wait(state)
        return delay * (0.5 + random.random()) if self._jitter else delay

    def reset(self) -> None:
        """The next delay is the initial one again."""
        self._failures = 0
