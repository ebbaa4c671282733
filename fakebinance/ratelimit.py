"""Per-IP REQUEST_WEIGHT limiter with Binance's 429-then-418 escalation."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

WEIGHTS = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/klines": 2,
    "/api/v3/aggTrades": 4,
    "/api/v3/historicalTrades": 25,
    "/api/v3/trades": 25,
}
MAX_BAN_SECONDS = 3 * 86_400


def request_weight(path: str, query: Mapping[str, str]) -> int:
    """A request's weight; /api/v3/ticker/24hr's depends on how many symbols it asks for."""
    if path != "/api/v3/ticker/24hr":
        return WEIGHTS.get(path, 1)
    if query.get("symbol"):
        return 2
    symbols = query.get("symbols")
    if not symbols:
        return 80
    n = symbols.count(",") + 1
    return 2 if n <= 20 else 40 if n <= 100 else 80


@dataclass
class Verdict:
    """Outcome of one request: status 200 (go on), 429 or 418, plus headers to send."""

    status: int
    used: int
    retry_after: int = 0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _IpState:
    window: int = -1
    used: int = 0
    retry_until: float = 0.0
    banned_until: float = 0.0
    bans: int = 0


class WeightLimiter:
    """Fixed-window weight counter per IP.

    Windows are aligned to the wall clock (epoch multiples of ``window``), as Binance's are, so
    a client may plan on them; ``phase`` shifts them, to test clients against a server whose
    windows begin elsewhere. Over the limit -> 429 with Retry-After = seconds to the window's
    end. A request while a 429's Retry-After still runs -> 418 ban (``ban_base`` seconds,
    doubling per repeat, capped at 3 days); during a ban every request gets 418.
    """

    def __init__(
        self,
        limit: int = 6000,
        window: float = 60.0,
        ban_base: float = 120.0,
        now: Callable[[], float] = time.time,
        phase: float = 0.0,
    ) -> None:
        self.limit = limit
        self.window = window
        self.ban_base = ban_base
        self._now = lambda: now() - phase
        self._ips: dict[str, _IpState] = {}
        self._lock = threading.Lock()
        self.count_429 = 0
        self.count_418 = 0
        self.weight_by_window: dict[int, int] = {}

    def used(self, ip: str) -> int:
        """Weight used by ``ip`` in the current window."""
        with self._lock:
            st = self._ips.get(ip)
            if st is None or st.window != int(self._now() // self.window):
                return 0
            return st.used

    def check(self, ip: str, weight: int) -> Verdict:
        """Account one request of ``weight`` from ``ip`` and say whether it may run."""
        with self._lock:
            now = self._now()
            window = int(now // self.window)
            st = self._ips.setdefault(ip, _IpState())
            if st.window != window:
                st.window, st.used = window, 0
            if now < st.banned_until:
                self.count_418 += 1
                return self._verdict(418, st, st.banned_until - now)
            if now < st.retry_until:
                st.bans += 1
                duration = min(self.ban_base * 2 ** (st.bans - 1), MAX_BAN_SECONDS)
                st.banned_until = now + duration
                self.count_418 += 1
                logger.info("fake binance: banning %s for %.0f s", ip, duration)
                return self._verdict(418, st, duration)
            st.used += weight
            self.weight_by_window[window] = self.weight_by_window.get(window, 0) + weight
            if st.used > self.limit:
                window_end = (window + 1) * self.window
                # Times here are phase-shifted; only differences leave this object.
                st.retry_until = window_end
                self.count_429 += 1
                return self._verdict(429, st, window_end - now)
            return self._verdict(200, st, 0)

    def ban(self, ip: str, seconds: float) -> None:
        """Ban ``ip`` for ``seconds`` from now (every request gets 418)."""
        with self._lock:
            st = self._ips.setdefault(ip, _IpState())
            st.banned_until = self._now() + seconds

    def _verdict(self, status: int, st: _IpState, retry: float) -> Verdict:
        used = str(st.used)
        headers = {"x-mbx-used-weight": used, "x-mbx-used-weight-1m": used}
        retry_after = max(1, math.ceil(retry)) if status != 200 else 0
        if status != 200:
            headers["Retry-After"] = str(retry_after)
        return Verdict(status, st.used, retry_after, headers)

    def headers_for(self, ip: str) -> dict[str, str]:
        """Used-weight headers without charging anything (for unweighted endpoints)."""
        used = str(self.used(ip))
        return {"x-mbx-used-weight": used, "x-mbx-used-weight-1m": used}

    def total_weight(self) -> int:
        """Weight served over all windows and IPs."""
        with self._lock:
            return sum(self.weight_by_window.values())

    def reset(self) -> None:
        """Forget every IP's usage and bans (counters stay)."""
        with self._lock:
            self._ips.clear()
