"""A gap repair's REST fetches, each retried as a whole with jittered exponential backoff until
the repair deadline (STREAMER_REPAIR_DEADLINE), or until a ban outlasts it; and the repairs
failing now, for /healthz (streamer/health.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_not_exception_type,
    stop_before_delay,
    wait_exponential_jitter,
)

from streamer.fetch import GiveUp
from streamer.gap import Gap
from streamer.rest import RestUnavailable

if TYPE_CHECKING:
    from streamer.metrics import Metrics
    from streamer.rest import RestClient

logger = logging.getLogger(__name__)


class Retries:
    """Retries each fetch of a repair; counts, logs and remembers what failed."""

    def __init__(self, rest: RestClient, metrics: Metrics, deadline_s: float) -> None:
        # Asked how long a ban lasts: no retry is planned past the deadline.
        self.rest = rest
        self.metrics = metrics
        self.deadline_s = deadline_s
        # Repairs whose last attempt failed: gap id -> (first failure, monotonic; last error).
        self.failing: dict[int, tuple[float, str]] = {}
        self.last_error: str | None = None

    async def fetch(self, gap: Gap, fetch: Callable[[Gap], Awaitable[list]]) -> list:
        """fetch(gap), retried on any error (GiveUp aside) with jittered exponential backoff."""
        deadline = time.monotonic() + self.deadline_s

        def banned_past_deadline(_state: RetryCallState) -> bool:
            return self.rest.banned_for() > deadline - time.monotonic()

        retrying = AsyncRetrying(
            retry=retry_if_not_exception_type((GiveUp, asyncio.CancelledError)),
            wait=wait_exponential_jitter(multiplier=0.2, max=30.0, jitter=0.2),
            stop=stop_before_delay(self.deadline_s) | banned_past_deadline,
            before_sleep=lambda state: self._attempt_failed(gap, state),
            reraise=True,
        )
        return await retrying(fetch, gap)

    def done(self, gap: Gap) -> None:
        """The gap's repair ended, however: it is failing no longer."""
        self.failing.pop(gap.id, None)

    def count(self, gap: Gap, exc: BaseException) -> None:
        """One error of a repair, by kind, and the last one seen."""
        kind = type(exc).__name__
        self.metrics.repair_errors[kind] = self.metrics.repair_errors.get(kind, 0) + 1
        self.last_error = f"{gap.symbol}: {kind}: {exc}"

    def _attempt_failed(self, gap: Gap, state: RetryCallState) -> None:
        """Count, log and show one failed attempt; the next one follows after the backoff."""
        assert state.outcome is not None
        exc = state.outcome.exception()
        assert exc is not None
        self.count(gap, exc)
        since = self.failing.get(gap.id, (time.monotonic(), ""))[0]
        self.failing[gap.id] = (since, f"{type(exc).__name__}: {exc}")
        context = gap.log_context() | {
            "attempt": state.attempt_number,
            "error": type(exc).__name__,
            "retry_in_s": round(state.upcoming_sleep, 3),
        }
        # An outage REST reported is a warning; anything else is a defect or a surprise.
        expected = isinstance(exc, RestUnavailable)
        logger.log(
            logging.WARNING if expected else logging.ERROR,
            "repair of gap %s failed, retrying: %s",
            gap.symbol,
            exc,
            exc_info=None if expected else exc,
            extra=context,
        )
