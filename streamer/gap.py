"""A gap: the trades known to be missing between two seen ones, and the minutes they fall in.

Made by the aggregator and the prober, repaired by gaps and recovery, written by the writer:
it imports none of them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from include.platform.times import MINUTE_MS
from streamer.candle import minute_of, ms_to_datetime

_gap_ids = itertools.count(1)


@dataclass(eq=False)
class Gap:
    """Trades known to be missing between two seen ones (or before a symbol's first trade).

    ``lo_seq`` is None for a startup gap until REST tells where the first minute began.
    """

    symbol: str
    reason: str
    lo_seq: int | None
    hi_seq: int
    first_missing_trade_id: int | None
    last_missing_trade_id: int
    t_lo: int
    t_hi: int
    id: int = field(default_factory=lambda: next(_gap_ids))

    @property
    def gap_start(self) -> int:
        """First minute the missing trades can fall in."""
        return minute_of(self.t_lo)

    @property
    def gap_end(self) -> int:
        """Exclusive end of the minutes the missing trades can fall in."""
        return minute_of(self.t_hi) + MINUTE_MS

    def describe(self) -> str:
        """What is missing, for the log and the gap row's detail."""
        span = f"{ms_to_datetime(self.t_lo).isoformat()}..{ms_to_datetime(self.t_hi).isoformat()}"
        ids = (
            f"trade ids {self.first_missing_trade_id}..{self.last_missing_trade_id}"
            if self.first_missing_trade_id is not None
            else f"trades before id {self.last_missing_trade_id + 1}"
        )
        return f"{self.reason}: {ids} missing, {span}"

    def minutes(self) -> str:
        """The gap's minutes as a half-open span of ISO times."""
        start, end = ms_to_datetime(self.gap_start), ms_to_datetime(self.gap_end)
        return f"minutes {start.isoformat()}..{end.isoformat()}"

    def log_context(self) -> dict[str, object]:
        """The gap's identity as structured log fields."""
        return {
            "symbol": self.symbol,
            "gap_id": self.id,
            "gap_reason": self.reason,
            "gap_start": ms_to_datetime(self.gap_start).isoformat(),
            "gap_end": ms_to_datetime(self.gap_end).isoformat(),
        }
