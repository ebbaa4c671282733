"""One symbol's book (what the aggregator knows of it) and the aggregator's counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamer.candle import Candle
    from streamer.gap import Gap
    from streamer.parser import Trade


class SymbolBook:
    """Everything the aggregator knows about one symbol."""

    __slots__ = (
        "candles",
        "certain_until",
        "held",
        "high_seq",
        "high_time",
        "high_trade_id",
        "idle_from",
        "last_close",
        "next_close",
        "pending",
        "seed_seq",
        "symbol",
        "tainted",
        "trading",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.high_seq: int | None = None
        self.high_trade_id: int | None = None
        self.high_time = 0
        self.candles: dict[int, Candle] = {}
        # The earliest minute not yet closed; None until the first trade.
        self.next_close: int | None = None
        self.last_close: int | None = None
        self.pending: dict[int, Gap] = {}
        self.tainted: list[tuple[int, int]] = []
        # Every trade before this instant (ms) has been seen, gaps aside.
        self.certain_until = 0
        self.trading = True
        # No idle candle before this minute (ms): it traded again after a halt somewhere
        # before it, and a halted minute has no kline, so it must never become an idle one.
        self.idle_from = 0
        # Set by start_at: the id REST's klines ended at, before the stream's first trade.
        self.seed_seq: int | None = None
        # The stream's trades while the symbol waits for its klines seed (hold, release).
        self.held: list[Trade] | None = None


@dataclass
class Stats:
    """Counters the metrics endpoint exposes."""

    trades: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    late_trades: int = 0
    late_dropped: int = 0
    idle_minutes: int = 0
    closed_minutes: int = 0
    # Minutes a restart missed, written from Binance's own klines (not closed from trades).
    official_minutes: int = 0
    # COIN-M minutes closed with their base volumes from their klines (InverseCandle.mixed),
    # and those whose kline differed in more than those (taken whole).
    settled_minutes: int = 0
    settle_mismatches: int = 0
