"""The hub: who listens to which stream, the fan-out of events to them, and what the
notifications queue for the worker (worker.py) to read back from the tables
(api/push/__init__.py says how the push works)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.binance import parse_continuous, parse_stream, stream_name, zoned
from api.metrics import Metrics
from api.precision import Places
from api.push.event import CandleEvent
from api.push.queue import AHEAD_MS, Pending, parse
from api.push.senders import Senders
from api.symbols import EARLIEST_MS
from include.platform.intervals import (
    MINUTE_MS,
    SECOND,
    SECOND_MS,
    UnknownGrid,
    bucket_start,
    grid_offset,
)
from include.platform.markets import SPOT, Market

logger = logging.getLogger("api.push")

CHANNEL = "candles_1m"


class Subscriber:
    """Anything that receives candles: a WebSocket connection or a gRPC stream. Each kind of
    subscriber is a face: it encodes a candle in its own form (once per stream and publish,
    shared by every subscriber of the same kind) and queues the form."""

    combined: bool = False

    @staticmethod
    def encode(hub: Hub, stream: str, candle: CandleEvent) -> object:
        """The candle in this face's form, as ``stream`` carries it."""
        raise NotImplementedError

    def deliver(self, form: object) -> bool:
        """Queue one encoded candle; False when the subscriber cannot keep up and must go."""
        raise NotImplementedError


@dataclass
class Hub:
    """Subscriptions per stream name and the fan-out of events to them."""

    pool: AsyncConnectionPool
    database_url: str
    metrics: Metrics
    clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    streams: dict[str, set[Subscriber]] = field(default_factory=dict)
    # Per symbol, the interval keys someone listens to ("1h", "1d@+08:00"): what to compute.
    intervals: dict[str, dict[str, int]] = field(default_factory=dict)
    newest_minute: dict[str, int] = field(default_factory=dict)
    # Per symbol of SECOND_CANDLE_SYMBOLS, the newest second pushed: where a catch-up starts.
    newest_second: dict[str, int] = field(default_factory=dict)
    # (symbol, interval, candle open ms) to read back and push: live ones before old ones.
    pending: Pending = field(default_factory=Pending)
    # (symbol, interval, first minute ms, end ms) that a dbt build rebuilt after a correction.
    rebuilt: list[tuple[str, str, int, int]] = field(default_factory=list)
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    # The offset a symbol's candles are read with: the zone's and its own 3d grid
    # (api/symbols.py SymbolCache.grid); UnknownGrid leaves its 3d candles unpushed.
    grid: Callable[[str, str, int], int] = field(
        default=lambda symbol, interval, offset: grid_offset(interval, offset, None)
    )
    # The oldest minute a symbol's key may name: its first day, or Binance's first
    # (api/symbols.py SymbolCache.first_ms).
    first_ms: Callable[[str], int] = field(default=lambda symbol: EARLIEST_MS)
    # A futures contract's decimal places (api/symbols.py SymbolCache.places): its events
    # print its candle as Binance does; None (spot) keeps 8.
    places: Callable[[str], Places | None] = field(default=lambda symbol: None)
    # The newest market.rebuilt_runs id read (None until the listener first started).
    runs_seen: int | None = None
    # Who sent each notification, and those of logins that write nothing, set aside.
    senders: Senders = field(default_factory=Senders)
    # The worker (worker.py) has runs to read from market.rebuilt_runs; wake it up.
    runs_due: bool = False
    # A futures market's continuousKline streams by the perpetual's kline stream whose events
    # they carry (each with its subscribers under its own name in ``streams``).
    continuous: dict[str, set[str]] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Whose candles it pushes: spot's on candles_1m, or a futures market's on its own channel
    # (functions/notify_markets.sql) read from its own schemas.
    market: Market = SPOT

    @property
    def channel(self) -> str:
        """The NOTIFY channel its market's tables announce changed minutes on."""
        return CHANNEL if self.market is SPOT else f"{CHANNEL}_{self.market.name}"

    # ----------------------------------------------------------------- subscriptions
    def parse(self, name: str) -> tuple[str, str] | None:
        """(SYMBOL, interval key) a stream name of this market carries, else None: a kline
        stream, or on a futures market a pair's perpetual continuousKline stream (its
        perpetual's candles)."""
        found = parse_stream(name)
        if found is not None or self.market is SPOT:
            return found
        pair = parse_continuous(name)
        return None if pair is None else (self.market.perpetual(pair[0]), pair[1])

    def wants(self, stream: str) -> bool:
        """Does anyone listen to this kline stream, or to a continuousKline stream of it?"""
        return stream in self.streams or stream in self.continuous

    def subscribe(self, sub: Subscriber, stream: str, symbol: str, interval: str) -> None:
        """Add one stream for a subscriber (idempotent)."""
        members = self.streams.setdefault(stream, set())
        if sub in members:
            return
        members.add(sub)
        if parse_continuous(stream) is not None:
            self.continuous.setdefault(stream_name(symbol, interval), set()).add(stream)
        counts = self.intervals.setdefault(symbol, {})
        counts[interval] = counts.get(interval, 0) + 1
        self.metrics.subscribers.inc()

    def unsubscribe(self, sub: Subscriber, stream: str, symbol: str, interval: str) -> None:
        """Remove one stream of a subscriber (idempotent)."""
        members = self.streams.get(stream)
        if not members or sub not in members:
            return
        members.discard(sub)
        if not members:
            del self.streams[stream]
            kline = stream_name(symbol, interval)
            if stream in self.continuous.get(kline, ()):
                self.continuous[kline].discard(stream)
                if not self.continuous[kline]:
                    del self.continuous[kline]
        counts = self.intervals.get(symbol, {})
        counts[interval] -= 1
        if counts[interval] <= 0:
            del counts[interval]
            if not counts:
                self.intervals.pop(symbol, None)
        self.metrics.subscribers.dec()

    # ----------------------------------------------------------------- fan-out
    def publish(self, stream: str, candle: CandleEvent) -> None:
        """Queue a candle on every subscriber of its stream, and of the continuousKline streams
        that carry it."""
        # A copy: a subscriber cut off as too slow leaves its alias, changing the set.
        for alias in tuple(self.continuous.get(stream, ())):
            self._deliver(alias, candle)
        self._deliver(stream, candle)

    def _deliver(self, stream: str, candle: CandleEvent) -> None:
        members = self.streams.get(stream)
        if not members:
            return
        started = time.perf_counter()
        # Each face's form, made once for its first subscriber of this stream.
        forms: dict[type, object] = {}
        slow = []
        for sub in members:
            face = type(sub)
            form = forms.get(face)
            if form is None:
                form = forms[face] = sub.encode(self, stream, candle)
            if not sub.deliver(form):
                slow.append(sub)
        self.metrics.fanout.observe(time.perf_counter() - started)
        self.metrics.events.inc()
        self.metrics.frames.inc(len(members) - len(slow))
        for sub in slow:
            self.metrics.dropped.inc()
            cut = getattr(sub, "cut", None)
            if cut is not None:
                cut()

    def grid_of(self, symbol: str, key: str) -> tuple[str, int] | None:
        """(interval, offset) the symbol's candles of a stream's key are read with; None for 3d
        while its first day of trading is not known."""
        interval, offset = zoned(key)
        try:
            return interval, self.grid(symbol, interval, offset)
        except UnknownGrid:
            return None

    def received(self, pid: int, payload: str) -> None:
        """A notification from backend ``pid``: read now, or, from a login that writes no
        market table, set aside for the worker's spare time (api/push/senders.py)."""
        writes = self.senders.writes(pid)
        if writes is False:
            self.senders.defer(payload)
            self.wake.set()
            return
        if writes is None:
            self.wake.set()  # the worker looks the sender up
        self.on_notify(payload)

    def on_notify(self, payload: str) -> None:
        """One notification: queue the candles of every interval listened to over the minutes
        it names. Never raises: what does not parse is logged and skipped."""
        self.metrics.notifications.inc()
        parsed = parse(payload)
        if parsed is None:
            return
        if parsed.rebuilt:
            self.runs_due = True
            self.wake.set()
            return
        seconds, at_ms, now_ms = parsed.seconds, parsed.at_ms, self.clock_ms()
        for symbol, open_ms in parsed.keys:
            if self.pending.refuses(open_ms, now_ms) or not self.in_range(symbol, open_ms):
                continue
            for key in self.intervals.get(symbol, ()):
                # A 1s stream is fed by the seconds' notifications only, the rest by minutes'.
                if (zoned(key)[0] == SECOND) != seconds:
                    continue
                if (grid := self.grid_of(symbol, key)) is None:
                    continue
                interval, offset = grid
                item = (symbol, key, bucket_start(interval, open_ms, offset))
                self.pending.add(item, open_ms, now_ms)
        if self.pending:
            self.wake.set()
        if isinstance(at_ms, int):
            self.metrics.push_lag.observe(max(0.0, (now_ms - at_ms) / 1000))

    def in_range(self, symbol: str, open_ms: int) -> bool:
        """Whether a key names a minute (or second) the platform could hold: from the symbol's
        first day to a day ahead of now (only symbols subscribed to are read at all)."""
        return self.first_ms(symbol) <= open_ms <= self.clock_ms() + AHEAD_MS

    def on_rebuilt(self, runs: list[tuple[str, int, int]]) -> None:
        """Minutes to push again as they stand (rebuilt by dbt after a correction, or missed
        while the listener was away): re-read every interval listened to over them."""
        for symbol, first_ms, end_ms in runs:
            if not (self.in_range(symbol, first_ms) and self.in_range(symbol, end_ms - 1)):
                logger.warning(
                    "ignoring rebuilt run out of range: %s %s %s", symbol, first_ms, end_ms
                )
                continue
            wanted = self.intervals.get(symbol)
            if not wanted:
                continue
            for interval in wanted:
                if zoned(interval)[0] != SECOND:  # seconds are the streamer's, never rebuilt
                    self.rebuilt.append((symbol, interval, int(first_ms), int(end_ms)))
        if self.rebuilt:
            self.wake.set()

    async def runs_from_now(self, conn: psycopg.AsyncConnection) -> None:
        """On the first LISTEN, runs are read from the newest one on (those before were pushed
        by whoever listened then); after a reconnect, those announced meanwhile too."""
        if self.runs_seen is None:
            cur = await conn.execute(
                self.market.sql("select coalesce(max(id), 0) from market.rebuilt_runs")
            )
            self.runs_seen = (await cur.fetchone())[0]  # type: ignore[index]
        else:
            self.runs_due = True

    def catch_up(self, lost_ms: int) -> None:
        """After the listener was away, re-read what subscribers may have missed (a minute that
        closed meanwhile above all): each symbol listened to from its newest minute notified
        before the loss (the minute before the loss if none was) to the minute forming now,
        pushed as it stands, and its seconds likewise from the newest second pushed. Only rows
        written since are past that point, so this is cheap."""
        end_ms = self.clock_ms() + MINUTE_MS
        self.on_rebuilt(
            [
                (symbol, self.newest_minute.get(symbol, lost_ms - MINUTE_MS), end_ms)
                for symbol in self.intervals
            ]
        )
        # 1s streams (which no rebuild concerns): every second from the newest one pushed
        # before the loss, as it stands, so a second that closed meanwhile is pushed closed.
        for symbol, keys in self.intervals.items():
            first = self.newest_second.get(symbol, lost_ms - SECOND_MS)
            for key in keys:
                if zoned(key)[0] == SECOND:
                    self.rebuilt.append((symbol, key, first, end_ms))
        if self.rebuilt:
            self.wake.set()
