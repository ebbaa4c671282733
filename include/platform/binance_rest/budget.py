"""One process's weight budget: requests paced on X-MBX-USED-WEIGHT-1M, 429s and 418s obeyed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from include.platform.binance_rest.errors import IpBannedError
from include.platform.binance_rest.weights import RESERVE_SHARE, WINDOW_SLACK_S

logger = logging.getLogger(__name__)


class Admission(int):
    """The window a request was admitted in (an int, as callers pass it back to ``observe``),
    and ``floor``: the highest count the server had answered in that window before it went.
    Counted after those, in the same server window its answer says at least floor + weight;
    less means the server's window began in between."""

    floor: int

    def __new__(cls, window: int, floor: int) -> Admission:
        admission = super().__new__(cls, window)
        admission.floor = floor
        return admission


@dataclass
class WeightBudget:
    """One REQUEST_WEIGHT budget shared by concurrent requests, paced on X-MBX-USED-WEIGHT-1M.

    The server counts weight per fixed window aligned to the clock. For the current window the
    budget keeps ``seen``, the highest count the server reported for a request sent in it, and
    ``pending``, the weight sent and not answered yet (from any window); a request may go while
    seen + pending + its weight <= limit - reserve. That over-counts (a pending request may
    already be in ``seen``) and never under-counts our own requests. The first request of each
    window goes alone, so its answer reveals what other clients of the same IP spent before
    ours follow; it waits first (a quarter of a window at most) for the answers to requests sent
    before the window began, so that its answer counts them.
    A spent budget waits only until the window ends (plus the slack). A 429's Retry-After
    blocks every caller and re-anchors the window phase, and so does a count that fell inside
    what we took for one window. So a server whose windows are not where the clock says costs
    at most one 429 while it is learned, and that on a window's first request, alone in flight,
    so no other request lands inside the Retry-After and earns a 418. After a 418 every caller
    stops at once. ``waits`` and ``slept_s`` count the callers' waits, summed over threads.
    """

    limit: int = 6000
    window_s: float = 60.0
    phase_s: float = 0.0
    reserve_share: float = RESERVE_SHARE
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    slept_s: float = 0.0
    waits: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _answer_waiters: list[asyncio.Future[None]] = field(default_factory=list, repr=False)
    _window: int = field(default=-(2**62), repr=False)
    _seen: int = field(default=0, repr=False)
    _floor: int = field(default=0, repr=False)
    _answered: bool = field(default=False, repr=False)
    _rolled_at: float = field(default=0.0, repr=False)
    _sent: int = field(default=0, repr=False)
    _pending: int = field(default=0, repr=False)
    _peak_pending: int = field(default=0, repr=False)
    _blocked_until: float = field(default=0.0, repr=False)
    _banned: str | None = field(default=None, repr=False)
    _banned_until: float = field(default=0.0, repr=False)

    @property
    def reserve(self) -> int:
        """Weight per window this client leaves unspent (reserve_share of the limit)."""
        return int(self.limit * self.reserve_share)

    def banned_for(self) -> float:
        """Seconds the IP ban (418) still runs; 0 when not banned."""
        return max(0.0, self._banned_until - self.wall()) if self._banned else 0.0

    @property
    def peak_in_flight(self) -> int:
        """The most weight this budget has had sent and not answered at once."""
        return self._peak_pending

    @property
    def slack_s(self) -> float:
        """Seconds added after a window's end before it is taken as over."""
        return min(WINDOW_SLACK_S, self.window_s / 40)

    def _index(self, now: float) -> int:
        return math.floor((now - self.phase_s - self.slack_s) / self.window_s)

    def next_reset(self, now: float) -> float:
        """Wall time after which the next window is taken to have begun (slack included)."""
        return (self._index(now) + 1) * self.window_s + self.phase_s + self.slack_s

    def _roll(self, now: float) -> None:
        index = self._index(now)
        if index != self._window:
            self._window, self._seen, self._answered, self._sent = index, 0, False, 0
            self._rolled_at, self._floor = now, 0

    def _admit(
        self, weight: int, waited_until: float, headroom: int = 0
    ) -> tuple[int | None, float | None, float]:
        """The decision, under the lock and without waiting: may this request go now?

        Returns (window, None, _) to send in ``window``; (None, pause, _) to wait ``pause``
        seconds; (None, None, _) to wait for the window's first answer. The last item is the
        block the caller will have slept through, passed back on its next call. ``headroom``
        is weight of the window this request must leave to others (urgent ones).
        """
        now = self.wall()
        if self.banned_for() > 0:
            raise IpBannedError(self._banned)
        self._roll(now)
        if now < self._blocked_until and self._blocked_until > waited_until:
            pause, waited_until = self._blocked_until - now, self._blocked_until
        elif self._sent and not self._answered:
            # The window's first request is out: its answer tells what others spent.
            return None, None, waited_until
        elif not self._sent and self._pending and now < self._rolled_at + self.window_s / 4:
            # Requests of the windows before are still out: the server may count them after
            # this window's first request, whose answer would then miss them (on a loaded
            # host they queue at the server). It waits for their answers, a while at most.
            return None, None, waited_until
        elif self._seen + self._pending + weight <= self.limit - self.reserve - headroom:
            self._pending += weight
            self._peak_pending = max(self._peak_pending, self._pending)
            self._sent += weight
            return Admission(self._window, self._floor), None, waited_until
        else:
            pause = self.next_reset(now) - now
            logger.debug("weight budget spent (%d/%d)", self._seen, self.limit)
        self.waits += 1
        self.slept_s += pause
        return None, pause, waited_until

    def acquire(self, weight: int) -> int:
        """Block the thread until a request of this weight fits; return the window it goes in."""
        waited_until = 0.0
        with self._cond:
            while True:
                window, pause, waited_until = self._admit(weight, waited_until)
                if window is not None:
                    return window
                if pause is None:
                    self._cond.wait(timeout=1.0)
                    continue
                self._cond.release()
                try:
                    self.sleep(pause)
                finally:
                    self._cond.acquire()

    # Whether admitting a request may wait on I/O (the shared budget's database): then it is
    # done on a worker thread, never on the event loop of the coroutine that asks.
    admits_off_loop = False

    def _admit_locked(
        self, weight: int, waited_until: float, answered: asyncio.Future[None], headroom: int
    ) -> tuple[int | None, float | None, float]:
        """_admit under the lock; ``answered`` waits for the next answer when nothing fits."""
        with self._cond:
            admitted = self._admit(weight, waited_until, headroom)
            if admitted[0] is None and admitted[1] is None:
                self._answer_waiters.append(answered)
            return admitted

    async def acquire_async(self, weight: int, headroom: int = 0) -> int:
        """acquire for a coroutine: it waits on the event loop, which goes on running."""
        loop = asyncio.get_running_loop()
        waited_until = 0.0
        while True:
            answered = loop.create_future()
            if self.admits_off_loop:
                admitting = asyncio.ensure_future(
                    asyncio.to_thread(self._admit_locked, weight, waited_until, answered, headroom)
                )
                try:
                    admitted = await asyncio.shield(admitting)
                except asyncio.CancelledError:
                    # The thread admits on: weight it admits for nobody is given back, or the
                    # windows after would wait for its answer.
                    admitting.add_done_callback(functools.partial(self._unclaimed, weight))
                    raise
            else:
                admitted = self._admit_locked(weight, waited_until, answered, headroom)
            window, pause, waited_until = admitted
            if window is not None:
                return window
            if pause is None:
                await asyncio.wait([answered], timeout=1.0)
            else:
                await self.async_sleep(pause)

    def _unclaimed(self, weight: int, admitting: asyncio.Future[tuple]) -> None:
        """An admission whose caller was cancelled meanwhile: its weight was never sent."""
        if admitting.cancelled() or admitting.exception() is not None:
            return
        window = admitting.result()[0]
        if window is not None:
            with self._cond:
                self._pending -= weight
                if window == self._window:
                    # Else, were it the window's first request, every caller would wait for
                    # an answer that never comes, until the window ends.
                    self._sent -= weight
                self._notify()

    def _notify(self) -> None:
        """Wake every waiter, thread or coroutine (called with the lock held)."""
        self._cond.notify_all()
        for waiter in self._answer_waiters:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits there
                waiter.get_loop().call_soon_threadsafe(_resolve, waiter)
        self._answer_waiters.clear()

    def observe(self, used: int | None, weight: int, window: int) -> None:
        """An answer to a request sent in ``window``, with the server's count if it sent one."""
        with self._cond:
            self._pending -= weight
            now = self.wall()
            self._roll(now)
            if window == self._window:
                if used is None:
                    self._seen += weight
                elif used < getattr(window, "floor", 0) + weight or (
                    used + self._peak_pending < self._seen
                ):
                    # Counted after answers that said more, yet less (or the count fell by
                    # more than reordering explains): the server's window began since, not
                    # where the clock said. (A millisecond back, so float rounding cannot put
                    # `now` at the end of the window before.)
                    self.phase_s = (now - self.slack_s - 0.001) % self.window_s
                    self._roll(now)
                    self._seen = self._floor = used
                else:
                    self._seen = max(self._seen, used)
                    self._floor = max(self._floor, used)
                self._answered = True
            self._notify()

    def took(self, seconds: float) -> None:
        """How long a request took from its admission to its answer (SharedWeightBudget uses
        it; one process's own pacing does not need it)."""

    def retry_after(self, seconds: float) -> None:
        """A 429: every caller waits `seconds`, when the server's window ends; learn its phase."""
        with self._cond:
            now = self.wall()
            if seconds < self.window_s:
                # Whole seconds, rounded up: the window ends within its last second, so this
                # places ours a little late, the safe side. A Retry-After as long as the window
                # says nothing of where it ends (a window of a second or two).
                self.phase_s = (now + seconds) % self.window_s
            self._blocked_until = max(self._blocked_until, now + seconds + self.slack_s)
            self._notify()

    def ban(self, message: str, seconds: float = math.inf) -> None:
        """A 418: no caller sends anything more while the ban runs."""
        with self._cond:
            self._banned, self._banned_until = message, self.wall() + seconds
            self._notify()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
