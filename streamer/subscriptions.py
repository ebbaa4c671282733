"""Which symbols this process streams, on which connection: listings, shards, seeds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from include.platform.backoff import Backoff
from include.platform.symbols import in_shard, trading_symbols
from include.platform.times import MINUTE_MS
from streamer.candle import minute_of
from streamer.connection import AttemptLimiter, Shard
from streamer.gap import Gap
from streamer.gaps import KLINE_FINAL_MS
from streamer.rest import RestUnavailable

if TYPE_CHECKING:
    from streamer.aggregator import Aggregator
    from streamer.clock import ExchangeClock
    from streamer.config import StreamerConfig
    from streamer.connection import Sink
    from streamer.gaps import Gaps
    from streamer.metrics import Metrics
    from streamer.recovery import Recovery
    from streamer.rest import RestClient
    from streamer.tasks import Spawn

logger = logging.getLogger(__name__)

# exchangeInfo is read this long after each minute ends at the latest (exchange clock): its
# idle minutes wait for a read that shows their symbols still TRADING (Aggregator.status_read).
READ_AFTER_MINUTE_MS = 1_000
# A symbol starting from its klines holds its stream's trades for them this long at most (at
# ALL every seed is through in ~10 s when the weight allows): past it, or with REST failing,
# the stream starts it and its candles are written on, the minutes it missed repaired as any
# stream start's.
HELD_AT_MOST_S = 15.0


class Subscriptions:
    """The symbols on their shards (1024 streams per connection at most), followed in ALL mode."""

    def __init__(
        self,
        config: StreamerConfig,
        sink: Sink,
        aggregator: Aggregator,
        gaps: Gaps,
        recovery: Recovery,
        rest: RestClient,
        clock: ExchangeClock,
        metrics: Metrics,
        spawn: Spawn,
    ) -> None:
        self.config = config
        # What every connection feeds its trades and malformed frames to.
        self.sink = sink
        self.aggregator = aggregator
        self.gaps = gaps
        # Each symbol's minutes missed before its start: read before it is subscribed.
        self.recovery = recovery
        self.rest = rest
        self.clock = clock
        self.metrics = metrics
        self.spawn = spawn
        self.limiter = AttemptLimiter(config.connect_attempts, config.connect_window)
        # The WebSocket connections in the order they were opened, and each symbol's.
        self.shards: list[Shard] = []
        self.shard_of: dict[str, Shard] = {}
        self.shard_tasks: list[asyncio.Task] = []
        # Set when streaming begins (initial): a shard added from then on starts at once.
        self.stop: asyncio.Event | None = None
        # Symbols exchangeInfo shows out of TRADING, and the first minute of their halt.
        self.halts: dict[str, int] = {}

    # ----------------------------------------------------------------- shards
    def newest_event_ms(self) -> int:
        """The newest exchange time any connection delivered (0 before the first)."""
        return max((shard.last_event_ms for shard in self.shards), default=0)

    def assign(self, symbols: list[str]) -> None:
        """Put new symbols on shards with room (1024 streams per connection at most)."""
        fresh = [s for s in symbols if s not in self.shard_of]
        while fresh:
            shard = next((s for s in self.shards if s.room() > 0), None)
            if shard is None:
                shard = Shard(
                    f"conn{len(self.shards) + 1}",
                    self.config,
                    self.sink,
                    self.limiter,
                    messages=self.metrics.messages,
                )
                self.shards.append(shard)
                # While running, a shard added starts at once.
                if self.stop is not None:
                    self.shard_tasks.append(asyncio.ensure_future(shard.run(self.stop)))
            take, fresh = fresh[: shard.room()], fresh[shard.room() :]
            for s in take:
                self.shard_of[s] = shard
            shard.add(take)

    def unassign(self, symbols: list[str]) -> None:
        """Unsubscribe symbols that left TRADING or the exchange."""
        by_shard: dict[Shard, list[str]] = {}
        for s in symbols:
            if (shard := self.shard_of.pop(s, None)) is not None:
                by_shard.setdefault(shard, []).append(s)
        for shard, gone in by_shard.items():
            shard.remove(gone)
        read_ms = self.clock.now_ms()
        for s in symbols:
            book = self.aggregator.books.get(s)
            if s in self.halts and book is not None and book.next_close is not None:
                # Nothing proves its open minutes complete once it is dropped: its klines will.
                self.settle(s, book.next_close, read_ms)
            # Its changed candles are still written; if it trades again it starts afresh, so
            # the halted minutes in between are never filled as idle ones.
            self.aggregator.forget(s)
            self.recovery.forget(s)

    def settle(self, symbol: str, first_ms: int, read_ms: int) -> None:
        """A symbol that left TRADING leaves the stream with minutes from ``first_ms`` not yet
        closed: often its last traded one (no later trade proves it complete, and the prober
        may not have got to it before exchangeInfo was read at ``read_ms``), and idle ones
        before the halt. Binance's klines of them are final once the read's minute is over (no
        trade comes in a halt): they are written closed. A halted minute has no kline and is
        left to the halt's record (note_halts)."""
        end = minute_of(read_ms) + MINUTE_MS
        if end > first_ms:
            gap = Gap(symbol, "halt", None, 0, None, 0, first_ms, end - 1)
            self.spawn(self._settle(gap), f"settle {symbol}")

    async def _settle(self, gap: Gap) -> None:
        await self.clock.reached(gap.gap_end + KLINE_FINAL_MS)
        retries = self.gaps.retries
        try:
            official = self.aggregator.official(
                gap.symbol, await retries.fetch(gap, self.gaps.fetch.klines)
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            retries.count(gap, exc)
            logger.warning(
                "last minutes of %s not closed from klines, left to heal-gaps: %s",
                gap.symbol,
                exc,
                extra=gap.log_context(),
            )
            return
        finally:
            retries.done(gap)
        self.aggregator.put_official(official, time.monotonic())
        logger.info(
            "%s left TRADING: %d minutes closed from its klines",
            gap.symbol,
            len(official),
            extra=gap.log_context(),
        )

    # ----------------------------------------------------------------- listings
    async def refresh(self) -> list[str] | None:
        """exchangeInfo -> statuses; the TRADING symbols we should stream (None on failure)."""
        sent_ms = self.clock.now_ms() if self.clock.synced else None
        try:
            info = await self.rest.exchange_info()
        except RestUnavailable as exc:
            logger.warning("exchangeInfo failed: %s", exc)
            return None
        listed = info.get("symbols") if isinstance(info, dict) else None
        if not isinstance(listed, list) or not listed:
            # A partial answer (no symbols, null, empty) says nothing about any symbol: taken
            # as the list, it would unsubscribe every one.
            logger.warning("exchangeInfo without symbols: keeping the symbols streamed")
            return None
        # COIN-M's face value of a contract: its candles' base volumes need it.
        self.aggregator.contract_sizes.update(
            (s["symbol"], int(s["contractSize"]))
            for s in listed
            if isinstance(s, dict) and "symbol" in s and "contractSize" in s
        )
        statuses = {
            # COIN-M names it contractStatus (docs/BINANCE.md "Futures").
            s["symbol"]: s.get("status", s.get("contractStatus"))
            for s in listed
            if isinstance(s, dict) and "symbol" in s
        }
        now = minute_of(self.clock.now_ms())
        for symbol, book in self.aggregator.books.items():
            trading = statuses.get(symbol) == "TRADING"
            if trading and not book.trading:
                # It trades again since some instant after the last read that showed it
                # halted (reads may fail for minutes, a ban say): up to this minute, a minute
                # without trades may still be a halted one, which no idle candle may fill.
                book.idle_from = max(book.idle_from, now + MINUTE_MS)
            book.trading = trading
        self.note_halts(statuses, now)
        if sent_ms is not None:
            self.status_read(sent_ms)
        symbols = self.config.symbols
        return self.mine(trading_symbols(info) if symbols is None else symbols)

    def status_read(self, sent_ms: int) -> None:
        """Every book has its status as of ``sent_ms``: a minute after a symbol's last trade
        that a probe proved empty waited for this (a probe proves no trade came, not that the
        market was open, and a halted minute has no kline), and closes idle now if it ended
        before the read and the symbol is still TRADING."""
        agg, now = self.aggregator, time.monotonic()
        agg.status_read_ms = max(sent_ms, agg.status_read_ms)
        for book in agg.books.values():
            if book.trading and (book.next_close or 0) + MINUTE_MS <= book.certain_until:
                agg.close_ready(book, now)

    def note_halts(self, statuses: dict[str, str | None], now: int) -> None:
        """A streamed symbol that exchangeInfo shows out of TRADING (HALT, BREAK) has no klines
        from its first minute not closed yet: recorded as a halt, widened at every read while
        it lasts (``now`` the read's minute), for heal-gaps to confirm; so the quality checks
        see a known halt, never missing minutes or a stale symbol."""
        for symbol in [*self.shard_of, *(s for s in self.halts if s not in self.shard_of)]:
            status = statuses.get(symbol)
            if status is None:
                continue
            if status == "TRADING":
                # The halt ended between the last read and this one: its record is widened a
                # last time, up to this minute, for heal-gaps to cut at the first kline. A
                # symbol dropped meanwhile (ALL mode) gets its span recorded as a restart when
                # it is subscribed again (Recovery.read_resumes), under the same key: not here.
                start = self.halts.pop(symbol, None)
                if start is None or symbol not in self.shard_of:
                    continue
            elif (start := self.halts.get(symbol)) is None:
                book = self.aggregator.books.get(symbol)
                start = book.next_close if book is not None and book.next_close else now
                self.halts[symbol] = start
            self.gaps.halted(symbol, status, start, max(now, start) + MINUTE_MS)

    def mine(self, symbols: Iterable[str]) -> list[str]:
        """The symbols of this process's shard (STREAMER_SHARD), all of them without one."""
        return in_shard(symbols, self.config.shard)

    async def initial(self, stop: asyncio.Event) -> list[str] | None:
        """The symbols to start with; exchangeInfo is retried (SYMBOLS alone does without).
        ``stop`` ends the stream: every connection opened from now on runs until it is set."""
        self.stop = stop
        backoff = Backoff(self.config.backoff_initial, self.config.backoff_max, jitter=False)
        while not stop.is_set():
            wanted = await self.refresh()
            if wanted is not None:
                return wanted
            if self.config.symbols is not None:
                return self.mine(self.config.symbols)
            await asyncio.sleep(backoff.next())
        return None

    async def start(self, symbols: list[str], *, listed: bool = False) -> None:
        """Subscribe symbols and seed them; the minutes each missed since its newest closed one
        are read first (listed: it trades again while we run, see Recovery.read_resumes)."""
        await self.recovery.read_resumes(symbols, repair=not listed)
        for symbol in symbols:
            if self.recovery.klines_seed(symbol) is not None:
                # It starts from its klines (seed): its stream's trades wait for them.
                self.aggregator.hold(symbol)
        self.assign(symbols)
        self.spawn(self.seed(symbols), "seed")

    async def follow(self) -> None:
        """ALL mode: subscribe newly trading symbols, drop those no longer trading."""
        while True:
            await self.next_read()
            wanted = await self.refresh()
            if wanted is None or self.config.symbols is not None:
                continue
            gone = [s for s in self.shard_of if s not in set(wanted)]
            new = [s for s in wanted if s not in self.shard_of]
            if new:
                logger.info("subscribing %d newly trading symbols", len(new))
                await self.start(new, listed=True)
            if gone:
                logger.info("unsubscribing %d symbols no longer trading", len(gone))
                self.unassign(gone)

    async def next_read(self) -> None:
        """Wait STREAMER_SYMBOLS_REFRESH, or less: until just after the minute ends (by the
        exchange clock, once it is synced), so the read that lets its idle minutes close comes
        at once."""
        deadline = time.monotonic() + self.config.symbols_refresh_interval
        # The clock signals nothing when it syncs (a flag): polled.
        while not self.clock.synced and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        left = deadline - time.monotonic()
        if left <= 0:
            return
        boundary = minute_of(self.clock.now_ms()) + MINUTE_MS + READ_AFTER_MINUTE_MS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.clock.reached(boundary), left)

    # ----------------------------------------------------------------- seeds
    async def seed(self, symbols: list[str]) -> None:
        """Start each symbol once its stream is subscribed: one the database knows from the
        klines of the minutes it missed, any other from REST's latest trade."""
        if not self.config.startup_repair:
            return
        sem = asyncio.Semaphore(8)

        async def one(symbol: str) -> None:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(HELD_AT_MOST_S, self.recovery.release, symbol)
            try:
                await seed_one(symbol)
            finally:
                # Whatever became of the seed: the trades held for it are applied now.
                timer.cancel()
                self.recovery.release(symbol)

        async def seed_one(symbol: str) -> None:
            deadline = time.monotonic() + 60
            while True:
                shard = self.shard_of.get(symbol)
                if shard is None or time.monotonic() > deadline:
                    return
                if symbol in shard.subscribed:
                    break
                await asyncio.sleep(0.05)
            book = self.aggregator.books.get(symbol)
            if book is not None and book.high_seq:
                return
            resume = self.recovery.klines_seed(symbol)
            if resume is not None and await self.recovery.seed_from_klines(symbol, resume):
                return
            self.recovery.release(symbol)
            book = self.aggregator.books.get(symbol)
            if book is not None and book.high_seq:
                return
            async with sem:
                try:
                    last = await self.rest.latest(symbol, self.config.stream)
                except RestUnavailable as exc:
                    logger.warning("seeding %s from REST failed: %s", symbol, exc)
                    return
            if last is not None:
                gap = self.aggregator.seed(symbol, last, self.clock.now_ms())
                self.recovery.seeded(symbol, gap)

        with self.gaps.klines_first():
            await asyncio.gather(*(one(s) for s in symbols))
