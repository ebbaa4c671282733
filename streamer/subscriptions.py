"""Which symbols this process streams, on which connection: listings, shards, seeds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from include.platform.symbols import in_shard, trading_symbols
from streamer.aggregator import Aggregator
from streamer.config import StreamerConfig
from streamer.connection import AttemptLimiter, Backoff, Shard, Sink
from streamer.gaps import Gaps
from streamer.metrics import Metrics
from streamer.rest import RestClient, RestUnavailable

logger = logging.getLogger(__name__)


class Subscriptions:
    """The symbols on their shards (1024 streams per connection at most), followed in ALL mode."""

    def __init__(
        self,
        config: StreamerConfig,
        aggregator: Aggregator,
        gaps: Gaps,
        metrics: Metrics,
        sink: Sink,
        clock_ms: Callable[[], int],
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task],
    ) -> None:
        self.config = config
        self.aggregator = aggregator
        self.gaps = gaps
        self.metrics = metrics
        self.sink = sink
        self.clock_ms = clock_ms
        self._spawn = spawn
        self.limiter = AttemptLimiter(config.connect_attempts, config.connect_window)
        self.rest: RestClient | None = None
        self.shards: list[Shard] = []
        self.shard_of: dict[str, Shard] = {}
        self.shard_tasks: list[asyncio.Task] = []
        # Set while running: a shard added then starts at once.
        self.stop_event: asyncio.Event | None = None

    # ----------------------------------------------------------------- shards
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
                if self.stop_event is not None:
                    self.shard_tasks.append(asyncio.ensure_future(shard.run(self.stop_event)))
            take, fresh = fresh[: shard.room()], fresh[shard.room() :]
            for s in take:
                self.shard_of[s] = shard
            shard.add(take)

    def unassign(self, symbols: list[str]) -> None:
        """Unsubscribe symbols that left TRADING or the exchange."""
        by_shard: dict[str, list[str]] = {}
        for s in symbols:
            shard = self.shard_of.pop(s, None)
            if shard is not None:
                by_shard.setdefault(shard.name, []).append(s)
        for shard in self.shards:
            if shard.name in by_shard:
                shard.remove(by_shard[shard.name])
        for s in symbols:
            # Its changed candles are still written; if it trades again it starts afresh, so
            # the halted minutes in between are never filled as idle ones.
            self.aggregator.forget(s)
            self.gaps.forget(s)

    # ----------------------------------------------------------------- listings
    async def refresh(self) -> list[str] | None:
        """exchangeInfo -> statuses; the TRADING symbols we should stream (None on failure)."""
        assert self.rest is not None
        try:
            info = await self.rest.exchange_info()
        except RestUnavailable as exc:
            logger.warning("exchangeInfo failed: %s", exc)
            return None
        statuses = {
            s["symbol"]: s.get("status")
            for s in info.get("symbols", [])
            if isinstance(s, dict) and "symbol" in s
        }
        for symbol, book in self.aggregator.books.items():
            book.trading = statuses.get(symbol) == "TRADING"
        if self.config.symbols is not None:
            return self.mine(self.config.symbols)
        return self.mine(trading_symbols(info))

    def mine(self, symbols: Iterable[str]) -> list[str]:
        """The symbols of this process's shard (STREAMER_SHARD), all of them without one."""
        return in_shard(symbols, self.config.shard)

    async def initial(self, stop: asyncio.Event) -> list[str] | None:
        """The symbols to start with; exchangeInfo is retried (SYMBOLS alone does without)."""
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
        are read first (listed: it trades again while we run, see Gaps.read_resumes)."""
        await self.gaps.read_resumes(symbols, repair=not listed)
        self.assign(symbols)
        self._spawn(self.seed(symbols), "seed")

    async def follow(self) -> None:
        """ALL mode: subscribe newly trading symbols, drop those no longer trading."""
        while True:
            await asyncio.sleep(self.config.symbols_refresh_interval)
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

    # ----------------------------------------------------------------- seeds
    async def seed(self, symbols: list[str]) -> None:
        """Start each symbol from REST's latest trade once its stream is subscribed."""
        if not self.config.startup_repair:
            return
        sem = asyncio.Semaphore(8)

        async def one(symbol: str) -> None:
            deadline = time.monotonic() + 60
            while True:
                shard = self.shard_of.get(symbol)
                if shard is None or time.monotonic() > deadline:
                    return
                if symbol in shard.subscribed:
                    break
                await asyncio.sleep(0.05)
            if self.aggregator.books.get(symbol) and self.aggregator.books[symbol].high_seq:
                return
            assert self.rest is not None
            async with sem:
                try:
                    last = await self.rest.latest(symbol, self.config.stream)
                except RestUnavailable as exc:
                    logger.warning("seeding %s from REST failed: %s", symbol, exc)
                    return
            if last is not None:
                self.gaps.seeded(symbol, self.aggregator.seed(symbol, last, self.clock_ms()))

        await asyncio.gather(*(one(s) for s in symbols))
