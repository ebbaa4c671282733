"""The exchange's clock as this process can prove it: never ahead of Binance's, rarely behind."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from include.platform.backoff import Backoff

logger = logging.getLogger(__name__)


def wall_clock_ms() -> int:
    """The real UTC time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class ExchangeClock:
    """Binance's time, from two lower bounds: the host's clock corrected by the offset measured
    from serverTime, and the newest event time the streams delivered.

    Quiet minutes close when this says they are over, so it must never run ahead of the
    exchange. The offset alone is exact only while the host's clock runs at the exchange's
    pace; between two measurements a market that runs faster (a replay at speed, a host clock
    that drifts slow) would leave it behind by minutes. An event stamped by the exchange is a
    moment the exchange has certainly reached, so the estimate holds as long as trades flow.
    """

    def __init__(
        self,
        server_time_ms: Callable[[], Awaitable[int]],
        events_ms: Callable[[], int],
        *,
        local_ms: Callable[[], int] = wall_clock_ms,
        sync_interval: float = 60.0,
        retry_initial: float = 0.2,
    ) -> None:
        self._server_time_ms = server_time_ms
        self._events_ms = events_ms
        self._local_ms = local_ms
        self.sync_interval = sync_interval
        self.retry_initial = retry_initial
        self.offset_ms = 0
        # Until serverTime has been read once, no quiet minute closes: the host's clock alone
        # may run ahead of the exchange's.
        self.synced = False

    def now_ms(self) -> int:
        """The exchange's time now, as a lower bound."""
        return max(self._local_ms() + self.offset_ms, self._events_ms())

    async def reached(self, ms: int) -> None:
        """Return once the exchange has certainly reached ``ms``. Polled at most a second
        apart: the estimate moves with the streams' events (a replay runs faster than the
        host's clock), which nothing signals."""
        while (left := ms - self.now_ms()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(max(left / 1000, 0.05), 1.0))

    async def sync(self) -> None:
        """Measure the offset to serverTime (kept as it was when REST does not answer).

        serverTime was read at some instant of the round trip; pairing it with the round
        trip's end makes the estimate a lower bound, so a quiet minute may close one round
        trip late but never early.
        """
        try:
            server = await self._server_time_ms()
            received = self._local_ms()
        except Exception as exc:
            logger.warning("exchange time not measured: %s", exc)
            return
        offset = server - received
        if not self.synced or abs(offset - self.offset_ms) > 1_000:
            logger.info("host clock is %+d ms off the exchange's; using exchange time", -offset)
        self.offset_ms = offset
        self.synced = True

    async def run(self) -> None:
        """Re-measure every sync_interval; until the first success, retry sooner."""
        backoff = Backoff(self.retry_initial, self.sync_interval, jitter=False)
        delay = self.sync_interval if self.synced else 0.0
        while True:
            await asyncio.sleep(delay)
            await self.sync()
            delay = self.sync_interval if self.synced else backoff.next()
