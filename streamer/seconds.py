"""1s candles for SECOND_CANDLE_SYMBOLS, from the same trades as the minutes; pure, no I/O.

The aggregator hands every trade of a named symbol here too, and says how far its book is
certain (every trade before that instant seen, no gap pending before it): a second closes
once it ends inside that span, exactly as a minute does, so a second is closed only when no
trade of it can still be missing. Like Binance's 1s klines, a second with no trade while the
market trades repeats the previous close with zero volume; a halted minute gets no seconds, and
the seconds of a minute an unrepaired gap touched are written but never closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from include.platform.times import MINUTE_MS, SECOND_MS
from streamer.candle import Candle, Dirty
from streamer.parser import Trade

logger = logging.getLogger(__name__)


# Closed seconds stay in memory this long so a late trade can still correct them.
RETAIN_CLOSED_MS = 2 * MINUTE_MS
# A row of market.candles_1s_live: the candle columns and is_closed (no trade ids).
SECOND_ROW_WIDTH = 12


class SecondBook:
    """One symbol's seconds: the candles in memory, the earliest second not yet closed."""

    __slots__ = ("candles", "last_close", "next_close")

    def __init__(self, next_close: int, last_close: int | None) -> None:
        self.candles: dict[int, Candle] = {}
        self.next_close = next_close
        self.last_close = last_close


class Seconds:
    """Every named symbol's seconds; the writer drains ``dirty`` by ``take_batch``."""

    def __init__(self, symbols: frozenset[str]) -> None:
        self.symbols = symbols
        self.books: dict[str, SecondBook] = {}
        self.dirty = Dirty()
        self.closed = 0
        self.idle = 0
        self.late_dropped = 0

    def book(self, symbol: str, start_ms: int, last_close: int | None) -> SecondBook:
        """The symbol's seconds, started at ``start_ms`` (the minute its minutes close from:
        no second before the stream's own start is invented) on first use."""
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = SecondBook(start_ms, last_close)
        return book

    def _touch(self, c: Candle, now: float) -> None:
        self.dirty.touch(c, now)

    def add(self, book: SecondBook, t: Trade, now: float) -> None:
        """Fold one trade into its second."""
        second = t.time_ms - t.time_ms % SECOND_MS
        c = book.candles.get(second)
        if c is None:
            if second < book.next_close:
                # Before the seconds started, or closed and gone from memory: nothing exact.
                self.late_dropped += 1
                return
            c = book.candles[second] = Candle(t.symbol, second)
        c.add(t)
        self._touch(c, now)

    def close(
        self,
        symbol: str,
        book: SecondBook,
        limit_ms: int,
        *,
        trading: bool,
        idle_from: int,
        tainted: Callable[[int], bool],
        now: float,
    ) -> None:
        """Close every second that ends by ``limit_ms`` (every trade before it seen); fill idle
        ones while the market trades; a second of a ``tainted`` minute is written, not closed."""
        second = book.next_close
        while second + SECOND_MS <= limit_ms:
            c = book.candles.get(second)
            minute = second - second % MINUTE_MS
            if tainted(minute):
                if c is not None:
                    c.tainted = c.closed = True
                    book.last_close = c.close
                    self._touch(c, now)
            elif c is not None and c.open_seq is not None:
                c.closed = True
                book.last_close = c.close
                self.closed += 1
                self._touch(c, now)
            elif trading and book.last_close is not None and minute >= idle_from:
                c = book.candles[second] = Candle(symbol, second)
                c.open = c.high = c.low = c.close = book.last_close
                c.closed = True
                self.idle += 1
                self.closed += 1
                self._touch(c, now)
            second += SECOND_MS
        if second != book.next_close:
            book.next_close = second
            horizon = second - RETAIN_CLOSED_MS
            old = [s for s, c in book.candles.items() if s < horizon and c.pending_since is None]
            for s in old:
                del book.candles[s]

    def forget(self, symbol: str) -> None:
        """Drop a symbol that left the stream; dirty seconds stay queued."""
        self.books.pop(symbol, None)

    def take_batch(self, limit: int) -> list[tuple[Candle, tuple, float]]:
        """Up to ``limit`` changed seconds as (candle, row, oldest change time); marked clean."""
        return self.dirty.take(limit, SECOND_ROW_WIDTH)

    def requeue(self, batch: list[tuple[Candle, tuple, float]]) -> None:
        """A batch failed to commit: its seconds are dirty again."""
        self.dirty.requeue(batch)
