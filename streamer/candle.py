"""One candle built from trades in any order (a minute, or a second of SECOND_CANDLE_SYMBOLS)."""

from __future__ import annotations

import functools
import itertools

from include.platform.times import MINUTE_MS, to_datetime
from streamer.parser import Trade, format_quote, format_scaled

# Every row of a minute carries its open time: one datetime per minute, not per row.
ms_to_datetime = functools.lru_cache(maxsize=8192)(to_datetime)


# What a kline tells of its minute's trades: the Candle fields a kline's candle gives another.
KLINE_FIELDS = (
    "open", "high", "low", "close", "volume", "quote", "count", "taker_volume", "taker_quote"
)  # fmt: skip


def minute_of(ms: int) -> int:
    """The open time (epoch ms) of the minute holding ``ms``."""
    return ms - ms % MINUTE_MS


class Candle:
    """One symbol-minute (or second), built from trades in any order: open and close follow the
    trade ids."""

    __slots__ = (
        "close",
        "close_seq",
        "closed",
        "count",
        "first_id",
        "high",
        "last_id",
        "low",
        "official",
        "open",
        "open_seq",
        "open_time",
        "pending_since",
        "quote",
        "symbol",
        "tainted",
        "taker_quote",
        "taker_volume",
        "volume",
    )
    # Only an inverse contract's candle (InverseCandle) can hold a base volume it cannot be
    # sure of.
    mixed = False

    def __init__(self, symbol: str, open_time: int) -> None:
        self.symbol = symbol
        self.open_time = open_time
        self.open = self.high = self.low = self.close = 0
        self.open_seq: int | None = None
        self.close_seq = -1
        self.volume = self.quote = self.taker_volume = self.taker_quote = 0
        self.count = 0
        self.first_id: int | None = None
        self.last_id: int | None = None
        self.closed = False
        # A minute an unrepaired gap touched: written, never marked closed.
        self.tainted = False
        # Binance's own kline of the minute: every trade of it is in, none is folded in again.
        self.official = False
        # Monotonic seconds of the oldest change not yet committed (None when clean).
        self.pending_since: float | None = None

    def add(self, t: Trade) -> None:
        """Fold one trade in; exact integer arithmetic (prices scaled 1e8, p*q scaled 1e16)."""
        p = t.price
        if self.open_seq is None:
            self.open = self.high = self.low = self.close = p
            self.open_seq = self.close_seq = t.seq
            self.first_id, self.last_id = t.first_id, t.last_id
        else:
            if p > self.high:
                self.high = p
            if p < self.low:
                self.low = p
            if t.seq < self.open_seq:
                self.open, self.open_seq, self.first_id = p, t.seq, t.first_id
            if t.seq > self.close_seq:
                self.close, self.close_seq, self.last_id = p, t.seq, t.last_id
        q = t.qty
        pq = p * q
        self.volume += q
        self.quote += pq
        self.count += t.last_id - t.first_id + 1
        if not t.buyer_maker:
            self.taker_volume += q
            self.taker_quote += pq

    def row(self) -> tuple:
        """The table row: candle columns, is_closed, first/last trade id."""
        return (
            self.symbol,
            ms_to_datetime(self.open_time),
            format_scaled(self.open),
            format_scaled(self.high),
            format_scaled(self.low),
            format_scaled(self.close),
            format_scaled(self.volume),
            format_quote(self.quote),
            self.count,
            format_scaled(self.taker_volume),
            format_quote(self.taker_quote),
            self.closed and not self.tainted,
            self.first_id,
            self.last_id,
        )


class InverseCandle(Candle):
    """A COIN-M contract's minute: quantities are contracts of ``size`` USD, and the "quote"
    columns hold the base asset's volume, each trade's qty x size / price rounded half up to 8
    decimals (its baseQty; Binance's klines sum them, as the fake does).

    An aggTrade that holds several fills (``first_id < last_id``) tells only their total
    contracts, and the sum of the fills' rounded base quantities may differ from its own by a
    few 1e-8: such a minute is ``mixed``, and its base volumes are taken from its kline once it
    is over (streamer/inverse.py)."""

    __slots__ = ("mixed", "size")

    def __init__(self, symbol: str, open_time: int, size: int) -> None:
        super().__init__(symbol, open_time)
        self.size = size
        self.mixed = False

    def add(self, t: Trade) -> None:
        super().add(t)
        p, q = t.price, t.qty
        # qty x size / price in 1e-8 units, rounded half up, then scaled as p*q is (1e16).
        base = (2 * q * self.size * 10**8 + p) // (2 * p) * 10**8
        self.quote += base - p * q
        if not t.buyer_maker:
            self.taker_quote += base - p * q
        if t.last_id > t.first_id:
            self.mixed = True


class Dirty(dict[tuple[str, int], Candle]):
    """Candles changed since the writer last took them, by (symbol, open time), oldest first."""

    def touch(self, c: Candle, now: float) -> None:
        """Queue a changed candle, keeping the time of its oldest uncommitted change."""
        if c.pending_since is None:
            c.pending_since = now
            self[(c.symbol, c.open_time)] = c

    def take(self, limit: int, width: int | None = None) -> list[tuple[Candle, tuple, float]]:
        """Up to ``limit`` candles as (candle, row's first ``width`` columns, oldest change
        time); marked clean."""
        out = []
        for key in list(itertools.islice(self, limit)):
            c = self.pop(key)
            row = c.row()
            out.append((c, row if width is None else row[:width], c.pending_since or 0.0))
            c.pending_since = None
        return out

    def requeue(self, batch: list[tuple[Candle, tuple, float]]) -> None:
        """A batch failed to commit: its candles are dirty again, oldest change time kept."""
        for c, _row, since in batch:
            if c.pending_since is None or since < c.pending_since:
                c.pending_since = since
            self[(c.symbol, c.open_time)] = c
