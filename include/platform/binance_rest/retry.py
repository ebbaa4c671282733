"""When a failed request is tried again: the retry policy and a 429's or 418's Retry-After."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import RetryCallState, retry_if_exception_type, wait_exponential_jitter

from include.platform.binance_rest.errors import RetryableError, ThrottledError

MAX_SERVER_ERRORS = 5

# Without a readable Retry-After: a 429 waits out a whole weight window; a 418 the shortest
# ban Binance gives (bans scale from 2 minutes to 3 days).
MISSING_RETRY_AFTER_S = {429: 60.0, 418: 120.0}


def retry_after_seconds(headers: httpx.Headers, status: int = 429) -> float:
    """A 429's or 418's Retry-After in seconds (at least 1; the status's default when missing)."""
    try:
        return max(float(headers.get("retry-after", "")), 1.0)
    except ValueError:
        return MISSING_RETRY_AFTER_S.get(status, 60.0)


@dataclass(frozen=True)
class RetryPolicy:
    """When a request is tried again, and after how long: one policy for every client.

    Transport errors, 5xx and unreadable bodies are retried after a jittered exponential
    backoff; a 429 at once, since the budget already holds every caller for its Retry-After; a
    418 and any other answer never. ``attempts`` failed attempts end the request; a 429 counts
    as one only if ``throttled_counts`` (the streamer bounds its repairs so).
    """

    attempts: int = MAX_SERVER_ERRORS + 1
    throttled_counts: bool = False
    backoff_s: float = 2.0
    backoff_max_s: float = 30.0

    def arguments(self) -> dict[str, Any]:
        """tenacity's arguments for one request (its own count of failed attempts)."""
        backoff = wait_exponential_jitter(
            multiplier=self.backoff_s, max=self.backoff_max_s, jitter=self.backoff_s
        )
        failures = 0

        def stop(state: RetryCallState) -> bool:
            nonlocal failures
            if self.throttled_counts or not isinstance(_failure(state), ThrottledError):
                failures += 1
            return failures >= self.attempts

        def wait(state: RetryCallState) -> float:
            return 0.0 if isinstance(_failure(state), ThrottledError) else backoff(state)

        return {
            "retry": retry_if_exception_type(RetryableError),
            "stop": stop,
            "wait": wait,
            "reraise": True,
        }


def _failure(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None
