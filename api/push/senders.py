"""Who sent a notification: the triggers, in a session of a role that may write the market's
tables, or any other login (NOTIFY needs no privilege).

The listener reads notifications in the order they were sent, on one connection. A login that
sends them without pause would hold the streamer's behind its own if each cost the listener a
parse: so a notification from a backend known not to write is set aside (a deque append), and
read in the worker's spare time, a few per turn, the oldest dropped past DEFERRED_MAX. The
sender's backend pid comes with each notification; its role is looked up once (again after
LOOKUP_TTL_S, as pids are reused), and until then its notifications are read as before."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field

from psycopg import AsyncConnection

from api.sql import load_sql

logger = logging.getLogger("api.push")

PUSH_SENDERS = load_sql("push_senders")
# Notifications of senders that do not write, waiting to be read; past this the oldest go.
DEFERRED_MAX = 1_000
# Of those, read per turn of the worker (each a parse of up to 512 keys).
DEFERRED_PER_TURN = 8
# A backend's verdict is asked again after this long (a pid is reused once its backend ends).
LOOKUP_TTL_S = 60.0
# A warning repeated by every dropped notification is logged at most this often.
WARN_EVERY_S = 10.0


@dataclass
class Senders:
    """Backend pid -> whether it writes the market's tables, and the notifications set aside."""

    verdicts: dict[int, tuple[bool, float]] = field(default_factory=dict)
    unknown: set[int] = field(default_factory=set)
    deferred: deque[str] = field(default_factory=lambda: deque(maxlen=DEFERRED_MAX))
    dropped: int = 0
    _warned: float = float("-inf")

    def writes(self, pid: int) -> bool | None:
        """True for a writer's backend, False for another login's, None while not known (then
        it is looked up on the worker's next turn)."""
        verdict = self.verdicts.get(pid)
        if verdict is None or time.monotonic() - verdict[1] > LOOKUP_TTL_S:
            self.unknown.add(pid)
        return None if verdict is None else verdict[0]

    def defer(self, payload: str) -> None:
        """Set a notification of a login that does not write aside, for a turn with time."""
        if len(self.deferred) == DEFERRED_MAX:
            self.dropped += 1
            if time.monotonic() - self._warned >= WARN_EVERY_S:
                self._warned = time.monotonic()
                logger.warning(
                    "notifications from logins that write no market table: %d set aside, "
                    "%d dropped so far",
                    DEFERRED_MAX,
                    self.dropped,
                )
        self.deferred.append(payload)

    def take(self, count: int = DEFERRED_PER_TURN) -> list[str]:
        """The oldest ``count`` notifications set aside."""
        return [self.deferred.popleft() for _ in range(min(count, len(self.deferred)))]

    async def look_up(self, conn: AsyncConnection) -> None:
        """Learn whether each unknown sender writes the market's tables."""
        pids, self.unknown = sorted(self.unknown), set()
        cur = await conn.execute(PUSH_SENDERS, {"pids": pids})
        found = dict(await cur.fetchall())
        now = time.monotonic()
        # Verdicts long stale go (a login that opens connection after connection leaves one
        # pid each).
        self.verdicts = {
            pid: v for pid, v in self.verdicts.items() if now - v[1] <= 2 * LOOKUP_TTL_S
        }
        for pid in pids:
            self.verdicts[pid] = (bool(found.get(pid, False)), now)
