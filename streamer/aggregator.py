"""Trades to exact 1-minute candles, with gap bookkeeping and minute closing; pure, no I/O."""

from __future__ import annotations

import logging

from include.platform.times import MINUTE_MS, SECOND_MS
from streamer.book import Stats, SymbolBook
from streamer.candle import KLINE_FIELDS, Candle, Dirty, InverseCandle, minute_of, ms_to_datetime
from streamer.gap import Gap
from streamer.parser import ONE, Trade, to_scaled
from streamer.seconds import Seconds

logger = logging.getLogger(__name__)

# Closed candles stay in memory this long so a late trade can still correct them.
RETAIN_CLOSED_MS = 5 * MINUTE_MS


class Aggregator:
    """All symbols' books; the writer drains ``dirty`` by ``take_batch``."""

    def __init__(
        self, *, startup_repair: bool = True, second_symbols: frozenset[str] = frozenset()
    ) -> None:
        self.books: dict[str, SymbolBook] = {}
        self.dirty = Dirty()
        self.startup_repair = startup_repair
        self.stats = Stats()
        # 1s candles of SECOND_CANDLE_SYMBOLS, from the same trades, closed by the same proof.
        self.seconds = Seconds(second_symbols)
        # A COIN-M contract's face value by symbol (exchangeInfo's contractSize): its candles
        # are InverseCandles. Empty on spot and USDⓈ-M.
        self.contract_sizes: dict[str, int] = {}
        # Minutes over whose base volumes wait for their klines (streamer/inverse.py).
        self.unsettled: list[Candle] = []
        # When the newest status read was sent: later idle minutes wait (streamer/README.md).
        self.status_read_ms = 1 << 62

    def book(self, symbol: str) -> SymbolBook:
        """The symbol's book, created empty on first use."""
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = SymbolBook(symbol)
        return book

    def _touch(self, c: Candle, now: float) -> None:
        self.dirty.touch(c, now)

    def apply(self, t: Trade, now: float) -> Gap | None:
        """Fold one trade from the stream (or a catch-up) in; a new gap is returned to repair."""
        symbol = t.symbol
        book = self.books.get(symbol)
        if book is None:
            book = self.book(symbol)
        seq = t.seq
        high = book.high_seq
        gap = None
        # The common case first: the next id of a known symbol.
        if high is None or seq != high + 1:
            if high is None:
                if book.held is not None:
                    # Waiting for its klines seed, which says where its ids go on from.
                    book.held.append(t)
                    return None
                book.next_close = minute_of(t.time_ms)
                if self.startup_repair:
                    gap = Gap(
                        symbol,
                        "startup",
                        None,
                        seq - 1,
                        None,
                        t.first_id - 1,
                        minute_of(t.time_ms),
                        t.time_ms,
                    )
                else:
                    book.tainted.append((book.next_close, book.next_close))
            elif seq <= high:
                self.stats.duplicates += 1
                return None
            else:
                gap = Gap(
                    symbol,
                    # Started from the klines' count: the stream's first trade follows the
                    # current minute's earlier ones, a startup gap, not a loss.
                    "startup" if high == book.seed_seq else "sequence",
                    high + 1,
                    seq - 1,
                    (book.high_trade_id or 0) + 1,
                    t.first_id - 1,
                    book.high_time,
                    t.time_ms,
                )
            if gap is not None:
                book.pending[gap.id] = gap
        time_ms = t.time_ms
        book.high_seq = seq
        book.high_trade_id = last_id = t.last_id
        book.high_time = time_ms
        trades = self.stats.trades
        trades[symbol] = trades.get(symbol, 0) + last_id - t.first_id + 1
        # Hot path inline: the minute's candle exists and is still open.
        c = book.candles.get(time_ms - time_ms % MINUTE_MS)
        if c is not None and not c.closed:
            c.add(t)
            if c.pending_since is None:
                c.pending_since = now
                self.dirty[(symbol, c.open_time)] = c
        else:
            self._fold(book, t, now)
        with_seconds = symbol in self.seconds.symbols
        if with_seconds:
            self._add_second(book, t, now)
        if time_ms > book.certain_until:
            previous = book.certain_until
            book.certain_until = time_ms
            if time_ms - book.next_close >= MINUTE_MS or (  # type: ignore[operator]
                with_seconds and time_ms // SECOND_MS > previous // SECOND_MS
            ):
                self.close_ready(book, now)
        return gap

    def _add_second(self, book: SymbolBook, t: Trade, now: float) -> None:
        seconds = self.seconds
        seconds.add(seconds.book(book.symbol, book.next_close or 0, book.last_close), t, now)

    def _fold(self, book: SymbolBook, t: Trade, now: float) -> None:
        minute = t.time_ms - t.time_ms % MINUTE_MS
        c = book.candles.get(minute)
        if c is None:
            if book.next_close is not None and minute < book.next_close:
                # Its minute already closed and left memory: nothing exact can be written now.
                self.stats.late_dropped += 1
                logger.warning("late trade for %s %s dropped", t.symbol, ms_to_datetime(minute))
                return
            size = self.contract_sizes.get(t.symbol)
            c = book.candles[minute] = (
                Candle(t.symbol, minute) if size is None else InverseCandle(t.symbol, minute, size)
            )
        elif c.official:
            # Already counted in the minute's kline (apply_klines): only its id is news.
            if c.last_id is None or t.last_id > c.last_id:
                c.last_id = t.last_id
                c.first_id = t.last_id - c.count + 1
                self._touch(c, now)
            return
        elif c.closed:
            self.stats.late_trades += 1
            logger.warning(
                "late trade corrects closed candle %s %s", t.symbol, ms_to_datetime(minute)
            )
        c.add(t)
        self._touch(c, now)

    def apply_repair(self, gap: Gap, trades: list[Trade], now: float) -> None:
        """Fold the trades REST returned for a gap in, and lift the gap."""
        book = self.book(gap.symbol)
        lo = gap.lo_seq if gap.lo_seq is not None else -1
        for t in trades:
            if lo <= t.seq <= gap.hi_seq:
                self.stats.trades[t.symbol] = self.stats.trades.get(t.symbol, 0) + t.count
                self._fold(book, t, now)
                if t.symbol in self.seconds.symbols:
                    self._add_second(book, t, now)
        book.pending.pop(gap.id, None)
        self.close_ready(book, now)

    def apply_klines(self, gap: Gap, official: list[Candle], now: float) -> None:
        """Close a startup gap's minutes from their Binance klines (``official``, each final,
        one per minute of the gap) and lift the gap.

        A kline holds every trade of its minute, those the stream sent too: each minute's
        candle becomes its kline, and a stream trade of it that comes later is not folded in
        again. The candle keeps its stream trades' last id; the first one is counted back from
        the kline's trade count (spot trade ids run on without a hole).
        """
        book = self.book(gap.symbol)
        for o in official:
            c = book.candles.get(o.open_time)
            if c is None:
                c = book.candles[o.open_time] = Candle(gap.symbol, o.open_time)
                # No trade of the minute came from the stream: not an idle minute to fill.
                c.open_seq = c.close_seq = -1
            elif c.last_id is not None:
                c.first_id = c.last_id - o.count + 1
            for name in KLINE_FIELDS:
                setattr(c, name, getattr(o, name))
            c.official = c.closed = True
            self._touch(c, now)
        book.pending.pop(gap.id, None)
        self.close_ready(book, now)

    def fail_repair(self, gap: Gap, now: float) -> None:
        """REST could not fill a gap: its minutes are written but never marked closed."""
        book = self.book(gap.symbol)
        # The gap's last minute keeps its close (the trade after the gap is known), not its sums.
        book.tainted.append((gap.gap_start, gap.gap_end - MINUTE_MS))
        book.pending.pop(gap.id, None)
        self.close_ready(book, now)

    def register_gap(self, symbol: str, hi_seq: int, last_trade_id: int, t_hi: int) -> Gap | None:
        """A probe found trades the stream never delivered: a gap up to ``hi_seq``."""
        book = self.books.get(symbol)
        if book is None or book.high_seq is None or hi_seq <= book.high_seq:
            return None
        gap = Gap(
            symbol,
            "silent",
            book.high_seq + 1,
            hi_seq,
            (book.high_trade_id or 0) + 1,
            last_trade_id,
            book.high_time,
            t_hi,
        )
        book.pending[gap.id] = gap
        book.high_seq, book.high_trade_id, book.high_time = hi_seq, last_trade_id, t_hi
        return gap

    def seed(self, symbol: str, last: Trade, now_ms: int) -> Gap | None:
        """Start a symbol from REST's most recent trade, taken after the stream subscribed.

        Later trades all come from the stream, so its ids continue from here. When that trade
        is in the current minute, the minute's earlier trades are a startup gap to fetch.
        """
        book = self.book(symbol)
        if book.high_seq is not None:
            return None
        current = minute_of(now_ms)
        book.high_seq, book.high_trade_id, book.high_time = last.seq, last.last_id, last.time_ms
        book.last_close = last.price
        book.certain_until = last.time_ms
        # Minutes before the start are the batch side's: no history is invented here.
        book.next_close = max(current, minute_of(last.time_ms))
        if last.time_ms < book.next_close:
            return None
        gap = Gap(
            symbol, "startup", None, last.seq, None, last.last_id, book.next_close, last.time_ms
        )
        book.pending[gap.id] = gap
        return gap

    def hold(self, symbol: str) -> None:
        """Keep the stream's trades of a symbol not yet started until ``release``: it will start
        from its klines (start_at), which say where its ids go on from."""
        book = self.book(symbol)
        if book.high_seq is None:
            book.held = []

    def release(self, symbol: str) -> list[Trade]:
        """The trades held for the symbol since ``hold``, to apply now; later ones are applied
        as they come."""
        book = self.books.get(symbol)
        if book is None or book.held is None:
            return []
        held, book.held = book.held, None
        return held

    def start_at(
        self,
        symbol: str,
        minute: int,
        last_id: int,
        close: int,
        now: float,
        prefix: Candle | None = None,
    ) -> None:
        """Start a symbol at ``minute`` from Binance's klines of the minutes before it: the
        trade stream's ids count on from ``last_id`` (the ids before ``minute``, known from the
        klines' trade counts), ``close`` the last one's close.

        ``prefix`` is ``minute``'s own kline as it stood when asked (Binance answers the
        current, unfinished one): its trades are the minute's first ``prefix.count`` ids, so
        the minute begins as that kline and the stream's trades after them fold in. The
        minute's trades between those and the stream's first become its startup gap, fetched
        by time."""
        book = self.book(symbol)
        book.next_close = minute
        book.last_close = close
        book.high_time = book.certain_until = minute - 1
        if prefix is not None and prefix.count:
            c = book.candles[minute] = Candle(symbol, minute)
            for name in KLINE_FIELDS:
                setattr(c, name, getattr(prefix, name))
            c.first_id = c.open_seq = last_id + 1
            last_id = c.last_id = c.close_seq = last_id + prefix.count
            book.high_time = book.certain_until = minute
            self._touch(c, now)
        book.high_seq = book.high_trade_id = book.seed_seq = last_id

    def resume(
        self,
        symbol: str,
        start: Gap | None,
        minute: int,
        close: int,
        first_missing_trade_id: int | None,
    ) -> Gap | None:
        """Start a just-started symbol back at ``minute``, the one after the newest minute an
        earlier run closed (``close`` its close), not where its stream or seed began.

        The minutes in between join ``start``, its startup gap, or a new gap up to the seed
        trade, and are repaired with it; idle ones repeat ``close``. Returns the gap to repair.
        """
        book = self.books[symbol]
        book.next_close = minute
        book.last_close = close
        if start is None:
            if book.high_seq is None or book.high_time < minute:
                # Nothing traded since: the minutes are idle, closed once a probe proves it.
                return None
            hi_id, hi_time = book.high_trade_id or 0, book.high_time
            start = Gap(symbol, "restart", None, book.high_seq, None, hi_id, minute, hi_time)
            book.pending[start.id] = start
        start.reason = "restart"
        start.t_lo = minute
        start.first_missing_trade_id = first_missing_trade_id
        return start

    @staticmethod
    def official(symbol: str, klines: list[list]) -> list[Candle]:
        """Binance's own /api/v3/klines rows as closed candles (a restart's missed minutes, all
        before the stream's first): exact by construction. A row that is not a kline raises
        ValueError naming the field, before anything is written."""
        candles = []
        for k in klines:
            c = Candle(symbol, int(k[0]))
            c.open = to_scaled(k[1], "open")
            c.high = to_scaled(k[2], "high")
            c.low = to_scaled(k[3], "low")
            c.close = to_scaled(k[4], "close")
            c.volume = to_scaled(k[5], "volume")
            c.quote = to_scaled(k[7], "quote_volume") * ONE
            c.count = int(k[8])
            c.taker_volume = to_scaled(k[9], "taker_buy_volume")
            c.taker_quote = to_scaled(k[10], "taker_buy_quote_volume") * ONE
            c.closed = c.official = True
            candles.append(c)
        return candles

    def put_official(self, candles: list[Candle], now: float) -> None:
        """Write official candles (``official``) as they are; they never enter the book, which
        starts at the stream."""
        for c in candles:
            self.stats.official_minutes += 1
            self._touch(c, now)

    def settle(self, c: Candle, kline: Candle, now: float) -> None:
        """Close a mixed COIN-M minute with its kline's base volumes. Every other column is the
        streamer's own and should equal the kline's; one that does not is taken whole from the
        kline (Binance's minute) and counted."""
        own = (c.open, c.high, c.low, c.close, c.volume, c.count, c.taker_volume)
        theirs = (kline.open, kline.high, kline.low, kline.close, kline.volume, kline.count)
        if own != (*theirs, kline.taker_volume):
            self.stats.settle_mismatches += 1
            logger.warning("%s %s differs from its kline: taken whole", c.symbol, c.open_time)
            c.open, c.high, c.low, c.close, c.volume, c.count = theirs
            c.taker_volume = kline.taker_volume
        c.quote, c.taker_quote = kline.quote, kline.taker_quote
        c.closed = True
        self.stats.settled_minutes += 1
        self._touch(c, now)

    def forget(self, symbol: str) -> None:
        """Drop a symbol that left the stream (delisted, halted); dirty candles stay queued."""
        self.books.pop(symbol, None)
        self.seconds.forget(symbol)

    def prove(self, symbol: str, until_ms: int, now: float) -> None:
        """Every trade before ``until_ms`` has been seen (a REST probe found no other)."""
        book = self.books.get(symbol)
        if book is None or book.next_close is None:
            return
        if until_ms > book.certain_until:
            book.certain_until = until_ms
            if until_ms - book.next_close >= MINUTE_MS or symbol in self.seconds.symbols:
                self.close_ready(book, now)

    def _tainted(self, book: SymbolBook, minute: int) -> bool:
        return any(lo <= minute <= hi for lo, hi in book.tainted)

    def close_ready(self, book: SymbolBook, now: float) -> None:
        """Close every minute that is over and can no longer change; fill idle minutes."""
        if book.next_close is None:
            return
        limit = book.certain_until
        for gap in book.pending.values():
            limit = min(limit, gap.gap_start)
        if book.symbol in self.seconds.symbols:
            self._close_seconds(book, limit, now)
        minute = book.next_close
        if minute + MINUTE_MS > limit:
            return
        while minute + MINUTE_MS <= limit:
            c = book.candles.get(minute)
            if book.tainted and self._tainted(book, minute):
                if c is not None:
                    c.tainted = c.closed = True
                    book.last_close = c.close
                    self._touch(c, now)
            elif c is not None and c.open_seq is not None:
                book.last_close = c.close
                if c.mixed and not c.official:
                    # Closed once its kline tells the fills' base volumes (settle).
                    self.unsettled.append(c)
                else:
                    c.closed = True
                    self.stats.closed_minutes += 1
                    self._touch(c, now)
            elif book.trading and book.last_close is not None and minute >= book.idle_from:
                if minute + MINUTE_MS > max(self.status_read_ms, book.high_time):
                    break
                c = book.candles[minute] = Candle(book.symbol, minute)
                c.open = c.high = c.low = c.close = book.last_close
                c.closed = True
                self.stats.idle_minutes += 1
                self.stats.closed_minutes += 1
                self._touch(c, now)
            minute += MINUTE_MS
        book.next_close = minute
        if book.tainted:
            book.tainted = [(lo, hi) for lo, hi in book.tainted if hi >= minute]
        self._evict(book)

    def _close_seconds(self, book: SymbolBook, limit: int, now: float) -> None:
        seconds = self.seconds
        seconds.close(
            book.symbol,
            seconds.book(book.symbol, book.next_close or 0, book.last_close),
            limit,
            trading=book.trading,
            idle_from=book.idle_from,
            tainted=lambda minute: bool(book.tainted) and self._tainted(book, minute),
            now=now,
        )

    def _evict(self, book: SymbolBook) -> None:
        horizon = (book.next_close or 0) - RETAIN_CLOSED_MS
        old = [m for m, c in book.candles.items() if m < horizon and c.pending_since is None]
        for m in old:
            del book.candles[m]

    def take_batch(self, limit: int) -> list[tuple[Candle, tuple, float]]:
        """Up to ``limit`` changed candles as (candle, row, oldest change time); marked clean."""
        return self.dirty.take(limit)

    def requeue(self, batch: list[tuple[Candle, tuple, float]]) -> None:
        """A batch failed to commit: its candles are dirty again, oldest change time kept."""
        self.dirty.requeue(batch)

    def pending_gaps(self) -> int:
        """Gaps still waiting for REST."""
        return sum(len(b.pending) for b in self.books.values())
