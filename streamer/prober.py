"""The completeness prober: quiet symbols' minutes close once REST proves no trade was missed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from include.platform.times import MINUTE_MS
from streamer.rest import PAGE, RestUnavailable

if TYPE_CHECKING:
    from streamer.aggregator import Aggregator
    from streamer.clock import ExchangeClock
    from streamer.config import StreamerConfig
    from streamer.connection import Shard
    from streamer.gap import Gap
    from streamer.rest import RestClient
    from streamer.tasks import Spawn

logger = logging.getLogger(__name__)

# A probe covers at most this span with one cheap aggTrades window (Binance allows 1 h).
PROBE_WINDOW_MS = 3_500_000
# One /api/v3/ticker/24hr (weight 80, every symbol's last trade id, answered from Binance's
# memory) costs what this many aggTrades probes (weight 4) do: with this many symbols due at
# once, one ticker proves every quiet one whose last id has not moved. At ALL about 1,500
# symbols fall quiet each minute: 6,000 weight a minute by probes, 80 by the ticker.
TICKER_MIN_DUE = 20
# Quiet symbols fall due together, just after each minute: one ticker at most this often (on
# the exchange's clock, as the minutes are).
TICKER_EVERY_MS = 10_000
# After a failed ticker, symbols are probed one by one for this long.
TICKER_PAUSE_S = 60.0


class Prober:
    """Asks REST, per quiet symbol, whether trades exist past the last one the stream sent."""

    def __init__(
        self,
        config: StreamerConfig,
        aggregator: Aggregator,
        rest: RestClient,
        clock: ExchangeClock,
        shard_of: Mapping[str, Shard],
        found: Callable[[Gap], None],
        spawn: Spawn,
    ) -> None:
        self.config = config
        self.aggregator = aggregator
        self.rest = rest
        self.clock = clock
        # Each symbol's connection (Subscriptions'), read as it changes.
        self.shard_of = shard_of
        # A silent gap goes to the repair queue (Gaps.found).
        self.found = found
        self.spawn = spawn
        self._probing: set[str] = set()
        self._last_probe: dict[str, float] = {}
        self._ticker_busy = False
        self._last_ticker_ms = -TICKER_EVERY_MS
        self._ticker_paused_until = 0.0

    async def run(self) -> None:
        """Quiet symbols close by the clock: REST proves no trade was missed since the last."""
        grace_ms = int(self.config.close_grace * 1000)
        interval = max(0.2, min(1.0, self.config.close_grace / 2))
        while True:
            slept = time.monotonic()
            await asyncio.sleep(interval)
            # A late wake-up means the loop itself was stuck: sockets look silent only because
            # their frames wait unread, so this round would probe for nothing.
            if time.monotonic() - slept > interval + 0.5:
                continue
            if self.rest.banned_for() > 0 or not self.clock.synced:
                continue
            now_ms = self.clock.now_ms()
            mono = time.monotonic()
            due: list[str] = []
            for symbol, book in self.aggregator.books.items():
                nc = book.next_close
                if (
                    nc is None
                    or book.pending
                    or book.high_seq is None
                    or symbol in self._probing
                    or now_ms < nc + MINUTE_MS + grace_ms
                    or book.certain_until >= nc + MINUTE_MS
                    or mono - self._last_probe.get(symbol, 0.0) < self.config.close_grace
                ):
                    continue
                shard = self.shard_of.get(symbol)
                if shard is None:
                    continue
                # A stream that has not yet delivered that far is lagging, not losing trades:
                # probe only when it has moved past the minute, or has gone silent.
                if (
                    shard.complete_event_ms < nc + MINUTE_MS + grace_ms
                    and mono - shard.last_data < self.config.close_grace
                ):
                    continue
                due.append(symbol)
            if due:
                self._dispatch(due, now_ms, mono)

    def _dispatch(self, due: list[str], now_ms: int, mono: float) -> None:
        """Many due at once: one ticker for all (or wait for the next one); few: a probe each."""
        if len(due) >= TICKER_MIN_DUE and mono >= self._ticker_paused_until:
            if self._ticker_busy or now_ms - self._last_ticker_ms < TICKER_EVERY_MS:
                return
            self._ticker_busy, self._last_ticker_ms = True, now_ms
            self._claim(due, mono)
            self.spawn(self.probe_by_ticker(due), f"ticker probe of {len(due)} symbols")
            return
        for symbol in due:
            self._claim([symbol], mono)
            self.spawn(self.probe(symbol), f"probe {symbol}")

    def _claim(self, symbols: list[str], mono: float) -> None:
        for symbol in symbols:
            self._probing.add(symbol)
            self._last_probe[symbol] = mono

    async def probe_by_ticker(self, due: list[str]) -> None:
        """Every due symbol whose last trade id in Binance's 24-hour ticker is the last one the
        stream sent is complete up to the ticker's time; any other gets its own probe."""
        unproven: list[str] = []
        try:
            at_ms = self.clock.now_ms()
            last_ids = await self.rest.last_trade_ids()
            now = time.monotonic()
            for symbol in due:
                book = self.aggregator.books.get(symbol)
                got = last_ids.get(symbol)
                if book is None or got is None or book.high_trade_id is None:
                    unproven.append(symbol)
                    continue
                last_id, open_ms, close_ms = got
                # -1: no trade all day, which proves only from a time already certain.
                quiet_all_day = last_id == -1 and book.certain_until >= open_ms
                if last_id == book.high_trade_id or quiet_all_day:
                    self.aggregator.prove(symbol, min(at_ms, close_ms), now)
                else:
                    unproven.append(symbol)
        except RestUnavailable as exc:
            logger.warning("ticker probe failed, probing one by one for a while: %s", exc)
            self._ticker_paused_until = time.monotonic() + TICKER_PAUSE_S
            unproven = []
        finally:
            self._ticker_busy = False
            for symbol in set(due) - set(unproven):
                self._probing.discard(symbol)
        for symbol in unproven:
            self.spawn(self.probe(symbol), f"probe {symbol}")

    async def probe(self, symbol: str) -> None:
        """One symbol: prove the trades complete up to now (or to the first unseen one); trades
        the stream has already passed but never sent are a silent gap."""
        try:
            at_ms = self.clock.now_ms()
            book = self.aggregator.books[symbol]
            stream = self.config.stream
            if stream == "aggTrade":
                rows = await self.rest.by_id(symbol, stream, (book.high_seq or 0) + 1, PAGE)
            elif at_ms - book.high_time <= PROBE_WINDOW_MS:
                rows = await self.rest.get_aggs_between(symbol, book.high_time, at_ms)
            else:
                rows = await self.rest.by_id(symbol, stream, (book.high_trade_id or 0) + 1, PAGE)
            proven = at_ms if len(rows) < PAGE else rows[-1].time_ms
            if stream == "aggTrade":
                missing = [t for t in rows if t.seq > (book.high_seq or 0)]
            else:
                missing = [t for t in rows if t.last_id > (book.high_trade_id or 0)]
            if missing:
                # Everything before the first unseen trade is complete.
                proven = min(t.time_ms for t in missing)
                shard = self.shard_of.get(symbol)
                reached = shard.complete_event_ms if shard is not None else at_ms
                # Lost, not late: the stream has already delivered everything up to later.
                lost = [t for t in missing if t.time_ms < reached]
                if lost:
                    last = max(lost, key=lambda t: t.last_id)
                    hi = last.seq if stream == "aggTrade" else last.last_id
                    gap = self.aggregator.register_gap(symbol, hi, last.last_id, last.time_ms)
                    if gap is not None:
                        self.found(gap)
            self.aggregator.prove(symbol, proven, time.monotonic())
        except RestUnavailable as exc:
            logger.warning("probe %s failed: %s", symbol, exc)
        finally:
            self._probing.discard(symbol)
