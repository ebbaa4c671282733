"""What a notification may queue for the push worker, and in which order it is read back.

NOTIFY needs no privilege: any login can send on the channel, as often as it likes. So a
notification is bounded before anything is queued (at most MAX_ITEMS keys, each a whole minute
or second within [its symbol's first day, now + 1 day]), and the keys near now, the ones a
subscriber is waiting for, go on a queue of their own: every turn of the worker reads all of
them, and only a slice of the older ones, BACKLOG_SLICE at most and fewer while turns run long
(next_slice: a loaded host reads each old candle slower). A trickle of old keys (valid, never
repeated, so nothing merges them) then delays a live minute by about one turn's budget, and never
pushes it out: only the backlog is capped (tests/security/test_push_notify.py)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import orjson

from include.platform.intervals import MINUTE_MS, SECOND_MS

logger = logging.getLogger("api.push")

# Keys read from one notification: the triggers' chunks of under 7 kB hold at most ~300
# (a symbol of five letters or more); the rest of a longer one is dropped.
MAX_ITEMS = 512
# The newest minute a notification may name: the forming one, with room for clock skew.
AHEAD_MS = 86_400_000
# A key this close to now (by the API's clock) is live: the minute forming, the one that just
# closed, a late trade's or a repair's minute just before.
LIVE_BEHIND_MS = 2 * MINUTE_MS
LIVE_AHEAD_MS = MINUTE_MS
# Older candles read per turn, after every live one; and how many may wait. Past the cap, old
# keys are dropped (a correction of an old candle, which Binance's streams never push anyway).
BACKLOG_SLICE = 256
MIN_SLICE = 8
# A turn with old candles should take about this long at most: past it the next slice is halved,
# under half of it doubled (up to BACKLOG_SLICE).
TURN_BUDGET_S = 0.2
MAX_BACKLOG = 100_000
# A warning repeated by every notification is logged at most this often.
WARN_EVERY_S = 10.0

# (symbol, interval key, candle open ms): one candle to read back and push.
Item = tuple[str, str, int]


@dataclass(frozen=True)
class Keys:
    """A notification's (symbol, open ms) keys: minutes, or seconds (SECOND_CANDLE_SYMBOLS)."""

    keys: list[tuple[str, int]]
    seconds: bool
    at_ms: object
    # A dbt build's hint: its runs are read from market.rebuilt_runs, never from the payload.
    rebuilt: bool = False


def parse(payload: str) -> Keys | None:
    """A notification's keys; None, logged, for what does not parse."""
    try:
        message = orjson.loads(payload)
        at_ms = message["at"]
        if "rebuilt" in message:
            return Keys([], False, at_ms, rebuilt=True)
        seconds = "seconds" in message
        rows = message["seconds"] if seconds else message["rows"]
        if len(rows) > MAX_ITEMS:
            logger.warning("notification of %d keys: the first %d read", len(rows), MAX_ITEMS)
        keys = [_key(row, SECOND_MS if seconds else MINUTE_MS) for row in rows[:MAX_ITEMS]]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
        logger.warning("ignoring malformed notification: %.200s", payload)
        return None
    return Keys(keys, seconds, at_ms)


def _key(row: list, size: int = MINUTE_MS) -> tuple[str, int]:
    """The (symbol, open ms) a notification row names, on a whole ``size`` (a minute, or a
    second); ValueError when it names none."""
    symbol, open_ms = row[0], row[1]
    if not isinstance(symbol, str) or not isinstance(open_ms, int) or open_ms % size:
        raise ValueError(f"not a key: {row[:2]!r}")
    return symbol, open_ms


def _live(key_ms: int, now_ms: int) -> bool:
    """Whether a key names a minute (or second) near now: the ones subscribers wait for."""
    return now_ms - LIVE_BEHIND_MS <= key_ms <= now_ms + LIVE_AHEAD_MS


@dataclass
class Pending:
    """The candles waiting for the worker, live ones apart from the backlog, each in the order
    it came (a dict: one read per candle however many keys name it)."""

    live: dict[Item, None] = field(default_factory=dict)
    backlog: dict[Item, None] = field(default_factory=dict)
    dropped: int = 0
    _warned: float = float("-inf")

    def __bool__(self) -> bool:
        return bool(self.live or self.backlog)

    def __len__(self) -> int:
        return len(self.live) + len(self.backlog)

    def refuses(self, key_ms: int, now_ms: int) -> bool:
        """An old key while the backlog is full: dropped before any work is spent on it (a
        flood of them costs the event loop a comparison each, not a look-up per interval)."""
        if len(self.backlog) < MAX_BACKLOG or _live(key_ms, now_ms):
            return False
        self._drop()
        return True

    def add(self, item: Item, key_ms: int, now_ms: int) -> None:
        """Queue a candle for a key naming the minute (or second) ``key_ms``."""
        if _live(key_ms, now_ms):
            self.live[item] = None
        elif item in self.backlog or len(self.backlog) < MAX_BACKLOG:
            self.backlog[item] = None
        else:
            self._drop()

    def _drop(self) -> None:
        self.dropped += 1
        if time.monotonic() - self._warned >= WARN_EVERY_S:
            self._warned = time.monotonic()
            logger.warning(
                "push backlog full (%d old candles waiting): %d old keys dropped so far",
                MAX_BACKLOG,
                self.dropped,
            )

    def take(self, slice_size: int = BACKLOG_SLICE) -> tuple[dict[Item, None], dict[Item, None]]:
        """One turn's candles: every live one, and the oldest ``slice_size`` of the backlog."""
        live, self.live = self.live, {}
        old: dict[Item, None] = {}
        for item in self.backlog:
            if len(old) == slice_size:
                break
            old[item] = None
        for item in old:
            del self.backlog[item]
        return live, old

    def put_back(self, live: dict[Item, None], old: dict[Item, None]) -> None:
        """A turn that could not run: its candles first again, each on its own queue."""
        self.live = {**live, **self.live}
        self.backlog = {**old, **self.backlog}

    def retry(self, item: Item) -> None:
        """A candle whose read failed once: again, after the live ones."""
        self.backlog[item] = None


def next_slice(size: int, old_read: int, seconds: float) -> int:
    """The next turn's slice of old candles after a turn that read ``old_read`` of them in
    ``seconds``: halved past TURN_BUDGET_S, doubled under half of it, within
    [MIN_SLICE, BACKLOG_SLICE]. A turn without old candles says nothing of their cost."""
    if old_read == 0:
        return size
    if seconds > TURN_BUDGET_S:
        return max(MIN_SLICE, size // 2)
    if seconds < TURN_BUDGET_S / 2:
        return min(BACKLOG_SLICE, size * 2)
    return size
