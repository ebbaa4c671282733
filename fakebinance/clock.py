"""Market clock: real UTC time by default, or a replay starting at a chosen instant and speed."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

logger = logging.getLogger(__name__)


def to_us(dt: datetime) -> int:
    """Datetime (aware) -> epoch microseconds."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime; use UTC")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """Epoch microseconds -> aware UTC datetime."""
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


class MarketClock:
    """Market time = start + (wall time elapsed) * speed.

    Without ``start`` the clock begins at the real current time; with speed 1 and no start it is
    the real UTC wall clock. ``speed=0`` freezes the clock so tests can move it with ``set`` and
    ``advance``.
    """

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._real = start is None and speed == 1.0
        self._anchor_market_us = to_us(start) if start is not None else time.time_ns() // 1000
        self._anchor_wall = time.monotonic()

    @property
    def speed(self) -> float:
        """Market seconds per wall second."""
        return self._speed

    def now_us(self) -> int:
        """Current market time in epoch microseconds."""
        if self._real:
            return time.time_ns() // 1000
        with self._lock:
            elapsed = time.monotonic() - self._anchor_wall
            return self._anchor_market_us + int(elapsed * self._speed * 1_000_000)

    def now_ms(self) -> int:
        """Current market time in epoch milliseconds."""
        return self.now_us() // 1000

    def now(self) -> datetime:
        """Current market time as an aware datetime."""
        return from_us(self.now_us())

    def set(self, when: datetime | int, speed: float | None = None) -> None:
        """Jump to ``when`` (datetime or epoch µs); optionally change the speed."""
        target = when if isinstance(when, int) else to_us(when)
        with self._lock:
            self._anchor_market_us = target
            self._anchor_wall = time.monotonic()
            if speed is not None:
                self._speed = float(speed)
            self._real = False

    def advance(self, seconds: float) -> None:
        """Move market time forward by ``seconds`` (only forward: history is immutable)."""
        if seconds < 0:
            raise ValueError("market time never goes back")
        self.set(self.now_us() + int(seconds * 1_000_000))

    def wall_seconds_until(self, market_us: int) -> float:
        """Wall seconds until the market clock reaches ``market_us`` (inf when frozen)."""
        gap = market_us - self.now_us()
        if gap <= 0:
            return 0.0
        if self._real:
            return gap / 1_000_000
        if self._speed == 0:
            return float("inf")
        return gap / 1_000_000 / self._speed
