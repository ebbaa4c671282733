"""The weight budget all processes share through PostgreSQL, and the choice of a budget."""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import psycopg

from include.platform.binance_rest.budget import WeightBudget
from include.sql import load_sql

logger = logging.getLogger(__name__)

# The name of the one budget every process of the platform shares (the IP's; the Airflow pool's).
SHARED_BUDGET = "binance_rest"
# Reserve a request's weight in its window (and in the next or the previous one too near their
# edge), all or nothing, unless the processes' reservations or the server's reported count leave
# no room: migration 0014's function, one round trip; row locks queue the processes.
RESERVE_SHARED = (
    "select market.reserve_rest_weight(%(budget)s, %(window_ms)s, %(first)s, %(last)s, "
    "%(weight)s, %(seen)s, %(cap)s)"
)
# A 429's windows, full for every process: no reservation fits in them any more.
BLOCK_SHARED = load_sql("block_rest_weight_windows")
# A window is worth nothing once it is over; an hour keeps the table a few dozen rows long.
PURGE_SHARED = "delete from market.rest_weight_windows where updated_at < now() - interval '1 hour'"
# After a failed round trip, the process paces alone this long before trying the database again.
SHARED_RETRY_S = 60.0


@dataclass
class SharedWeightBudget(WeightBudget):
    """A WeightBudget whose windows every process of the platform shares through PostgreSQL.

    Before a request goes, its weight is reserved in the window's row of
    market.rest_weight_windows (migration 0014), by the same window reckoning as the local
    budget: the request waits for the next window unless the weight all processes reserved
    there, or the highest X-MBX-USED-WEIGHT-1M any of them saw (sent along with the next
    reservation, so correcting costs no round trip of its own), leaves room for it. So the
    streamer's repairs and any number of batch tasks, each with its own connection, together
    stay under the IP's limit, which the headers alone cannot promise: a header does not show
    what other processes have in flight. Everything of WeightBudget (the first request of a
    window alone, 429 and 418 handling, the learned phase) still holds per process.

    Without a reachable database (or the table) it is a WeightBudget: it logs once and paces
    alone, trying the database again a minute later. ``shared_waits`` counts requests the
    shared window held back.
    """

    database_url: str = ""
    budget_name: str = SHARED_BUDGET
    # Short: a connect attempt holds up every request of the process meanwhile.
    connect_timeout_s: int = 2
    admits_off_loop = True
    shared_waits: int = 0
    _conn: psycopg.Connection | None = field(default=None, repr=False)
    _purged_window: int | None = field(default=None, repr=False)
    _alone_until: float = field(default=0.0, repr=False)
    # Until a request has been timed, a twentieth of the window (3 s of Binance's minute): a
    # cautious start that the first answer replaces.
    _latency_s: float | None = field(default=None, repr=False)
    _latency_at: float = field(default=0.0, repr=False)

    def _admit(
        self, weight: int, waited_until: float, headroom: int = 0
    ) -> tuple[int | None, float | None, float]:
        window, pause, waited_until = super()._admit(weight, waited_until, headroom)
        if window is None or self._reserve_shared(window, weight, headroom):
            return window, pause, waited_until
        # The shared window is spent: give back the local admission and wait for the next.
        self._pending -= weight
        self._sent -= weight
        now = self.wall()
        pause = self.next_reset(now) - now
        self.shared_waits += 1
        self.waits += 1
        self.slept_s += pause
        logger.debug("shared weight budget spent in window %d", window)
        return None, pause, waited_until

    @property
    def edge_s(self) -> float:
        """Seconds before a window's end from which a request takes room in the next one too
        (in the ones after, if it is longer than a window): the slack and twice the slowest
        recent request. Safe whatever the latency; it costs throughput only when requests take
        a good part of a window."""
        latency = self.window_s / 20 if self._latency_s is None else self._latency_s
        return self.slack_s + 2 * latency

    def took(self, seconds: float) -> None:
        with self._cond:
            # The slowest recent request, forgotten by the clock (half each window), not by the
            # request: at Binance's limit (50 klines requests a second) a slow one was gone
            # within a second, and a host that stalled once (a loaded machine, a GC pause) will
            # likely stall again.
            now = self.wall()
            if self._latency_s is None:
                start = 0.0  # the first answer replaces the cautious guess
            else:
                start = self._latency_s * 0.5 ** (max(now - self._latency_at, 0.0) / self.window_s)
            self._latency_s, self._latency_at = max(seconds, start), now

    def _reserve_shared(self, window: int, weight: int, headroom: int = 0) -> bool:
        """Reserve weight in the shared window (under the budget's lock); False when full."""
        conn = self._connection()
        if conn is None:
            return True
        try:
            if self._purged_window != window:
                conn.execute(PURGE_SHARED)
                self._purged_window = window
            # A request sent near a window's edge may be counted on either side of it (the
            # clocks' skew, and the time it takes to reach the server, which on a busy host is
            # more than the slack): it takes room in both windows.
            windows = self._shared_windows(self.edge_s)
            # The server's count is for the process's window: the same one unless it learned
            # another phase.
            seen = self._seen if window == windows["first"] else 0
            fits = self._reserve_windows(conn, windows, weight, seen, headroom)
            while fits:
                # The round trip waits on other processes' row locks: when it outlasts the
                # edge, the request may reach the server in a window it holds no room in (a
                # 429, then a 418 for the requests in flight). It reserves there too.
                later = self._shared_windows(self.edge_s)
                if later["last"] <= windows["last"]:
                    break
                windows = {**later, "first": max(later["first"], windows["last"] + 1)}
                fits = self._reserve_windows(conn, windows, weight, 0, headroom)
        except psycopg.Error as err:
            self._alone(err)
            return True
        return fits

    def _reserve_windows(
        self,
        conn: psycopg.Connection,
        windows: dict[str, Any],
        weight: int,
        seen: int,
        headroom: int,
    ) -> bool:
        """One reservation of weight in windows first..last, all or nothing."""
        (fits,) = conn.execute(
            RESERVE_SHARED,
            {
                **windows,
                "weight": weight,
                "seen": seen,
                "cap": self.limit - self.reserve - headroom,
            },
        ).fetchone()
        return bool(fits)

    def retry_after(self, seconds: float) -> None:
        """A 429 holds every process, not only this one: the shared windows it spans are
        marked full (another process's request inside the Retry-After would earn a 418)."""
        super().retry_after(seconds)
        with self._cond:
            conn = self._connection()
            if conn is None:
                return
            try:
                # Retry-After is whole seconds, rounded up: the server's window ends within its
                # last second, so the window that starts then is not blocked (it was, and every
                # 429 cost most of another window on top of its Retry-After).
                conn.execute(BLOCK_SHARED, self._shared_windows(seconds - 1.0))
            except psycopg.Error as err:
                self._alone(err)

    def _shared_windows(self, ahead_s: float) -> dict[str, Any]:
        """The shared windows from now (less the slack) to ahead_s on, by the clock: a phase one
        process learned (rightly or from a slow answer) must not make it count in other spans
        than the rest, as Binance's windows are the clock's."""
        now = self.wall()
        return {
            "budget": self.budget_name,
            "window_ms": round(self.window_s * 1000),
            "first": math.floor((now - self.slack_s) / self.window_s),
            "last": math.floor((now + max(ahead_s, 0.0)) / self.window_s),
        }

    def _connection(self) -> psycopg.Connection | None:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if not self.database_url or self.wall() < self._alone_until:
            return None
        try:
            self._conn = psycopg.connect(
                self.database_url,
                autocommit=True,
                connect_timeout=self.connect_timeout_s,
                application_name="binance-weight-budget",
            )
        except psycopg.Error as err:
            self._alone(err)
            return None
        return self._conn

    def _alone(self, err: BaseException) -> None:
        logger.warning(
            "shared REST weight budget unavailable (%s): pacing this process alone for %.0f s",
            str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__,
            SHARED_RETRY_S,
        )
        self._alone_until = self.wall() + SHARED_RETRY_S
        self.close()

    def close(self) -> None:
        """Close the database connection (a later request opens a new one)."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def shared_budget(database_url: str | None, **kwargs: Any) -> WeightBudget:
    """The budget shared through that database; the in-process one without a database URL."""
    if not database_url:
        kwargs.pop("budget_name", None)
        return WeightBudget(**kwargs)
    return SharedWeightBudget(database_url=database_url, **kwargs)
