"""Live push: LISTEN on candles_1m, turn changed minutes into kline events, fan them out.

One listener connection per process receives every committed change to a 1m candle (the
triggers of migration 0006). A 1m event is built from the notification alone; the candle of a
longer interval is read back through the same query as /api/v3/klines, coalesced per
(symbol, interval, candle) so a busy feed costs one query per candle per turn, not per minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from api.binance import MAX_LIMIT, kline_event, stream_name
from api.intervals import INTERVAL_MS, MINUTE_MS, bucket_start
from api.metrics import Metrics
from api.queries import KlinesRequest, fetch_candle, fetch_klines
from include.platform.backoff import Backoff

logger = logging.getLogger(__name__)

CHANNEL = "candles_1m"


class Subscriber:
    """Anything that receives frames: a WebSocket connection or a gRPC stream."""

    combined: bool = False

    def deliver(self, stream: str, event: dict, raw: str, combined: str) -> bool:
        """Queue one event; False when the subscriber cannot keep up and must go."""
        raise NotImplementedError


@dataclass
class _Pending:
    """A candle of a longer interval to read back and push."""

    closed: bool = False
    first_trade_id: int = -1
    last_trade_id: int = -1
    at_ms: int = 0


@dataclass
class Hub:
    """Subscriptions per stream name and the fan-out of events to them."""

    pool: AsyncConnectionPool
    database_url: str
    metrics: Metrics
    clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    streams: dict[str, set[Subscriber]] = field(default_factory=dict)
    # Per symbol, the intervals someone listens to (what to compute on a change).
    intervals: dict[str, dict[str, int]] = field(default_factory=dict)
    newest_minute: dict[str, int] = field(default_factory=dict)
    pending: dict[tuple[str, str, int], _Pending] = field(default_factory=dict)
    # (symbol, interval, first minute ms, end ms) that a dbt build rebuilt after a correction.
    rebuilt: list[tuple[str, str, int, int]] = field(default_factory=list)
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    # ----------------------------------------------------------------- subscriptions
    def subscribe(self, sub: Subscriber, stream: str, symbol: str, interval: str) -> None:
        """Add one stream for a subscriber (idempotent)."""
        members = self.streams.setdefault(stream, set())
        if sub in members:
            return
        members.add(sub)
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
        counts = self.intervals.get(symbol, {})
        counts[interval] -= 1
        if counts[interval] <= 0:
            del counts[interval]
            if not counts:
                self.intervals.pop(symbol, None)
        self.metrics.subscribers.dec()

    # ----------------------------------------------------------------- fan-out
    def publish(self, stream: str, event: dict) -> None:
        """Encode once per form, queue on every subscriber of the stream."""
        members = self.streams.get(stream)
        if not members:
            return
        raw = orjson.dumps(event).decode()
        combined = f'{{"stream":"{stream}","data":{raw}}}'
        slow = [sub for sub in members if not sub.deliver(stream, event, raw, combined)]
        self.metrics.events.inc()
        self.metrics.frames.inc(len(members) - len(slow))
        for sub in slow:
            self.metrics.dropped.inc()
            cut = getattr(sub, "cut", None)
            if cut is not None:
                cut()

    def on_notify(self, payload: str) -> None:
        """One notification: push 1m events now, queue longer intervals for the worker."""
        self.metrics.notifications.inc()
        try:
            message = orjson.loads(payload)
            at_ms = message["at"]
            if "rebuilt" in message:
                self.on_rebuilt(message["rebuilt"])
                return
            rows = message["rows"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            logger.warning("ignoring malformed notification: %.200s", payload)
            return
        now = self.clock_ms()
        for row in rows:
            symbol, open_ms = row[0], row[1]
            if open_ms > self.newest_minute.get(symbol, -1):
                self.newest_minute[symbol] = open_ms
            wanted = self.intervals.get(symbol)
            if not wanted:
                continue
            closed, first_id, last_id = row[11], row[12], row[13]
            if "1m" in wanted:
                values = (open_ms, *row[2:11])
                self.publish(
                    stream_name(symbol, "1m"),
                    kline_event(
                        symbol,
                        "1m",
                        values,  # type: ignore[arg-type]
                        closed=closed,
                        event_ms=now,
                        first_trade_id=first_id,
                        last_trade_id=last_id,
                    ),
                )
            for interval in wanted:
                if interval == "1m":
                    continue
                start = bucket_start(interval, open_ms)
                key = (symbol, interval, start)
                item = self.pending.get(key)
                if item is None:
                    item = self.pending[key] = _Pending(at_ms=at_ms)
                last_minute = start + INTERVAL_MS[interval] - MINUTE_MS
                if closed and open_ms >= last_minute:
                    item.closed = True
                self._wake.set()
        self.metrics.push_lag.observe(max(0.0, (self.clock_ms() - at_ms) / 1000))

    def on_rebuilt(self, runs: list) -> None:
        """dbt rebuilt minutes an official kline corrected: re-read every interval listened to."""
        for symbol, first_ms, end_ms in runs:
            wanted = self.intervals.get(symbol)
            if not wanted:
                continue
            for interval in wanted:
                self.rebuilt.append((symbol, interval, int(first_ms), int(end_ms)))
        if self.rebuilt:
            self._wake.set()

    async def _push_rebuilt(
        self, conn: psycopg.AsyncConnection, batch: list[tuple[str, str, int, int]]
    ) -> None:
        """Push the candles over rebuilt minutes, as they stand now, once each."""
        for symbol, interval, first_ms, end_ms in dict.fromkeys(batch):
            stream = stream_name(symbol, interval)
            if stream not in self.streams:
                continue
            cursor = bucket_start(interval, first_ms)
            while cursor < end_ms:
                rows = await fetch_klines(
                    conn, KlinesRequest(symbol, interval, cursor, end_ms - 1, MAX_LIMIT)
                )
                if not rows:
                    break
                for row in rows:
                    end = row[0] + INTERVAL_MS[interval]
                    closed = end <= max(self.clock_ms(), self.newest_minute.get(symbol, -1) + 1)
                    self.publish(
                        stream,
                        kline_event(symbol, interval, row, closed=closed, event_ms=self.clock_ms()),
                    )
                cursor = rows[-1][0] + INTERVAL_MS[interval]

    async def run_worker(self, stop: asyncio.Event) -> None:
        """Read back and push the pending candles of longer intervals until ``stop``."""
        while not stop.is_set():
            if not self.pending and not self.rebuilt:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            batch, self.pending = self.pending, {}
            rebuilt, self.rebuilt = self.rebuilt, []
            try:
                async with self.pool.connection() as conn:
                    if rebuilt:
                        await self._push_rebuilt(conn, rebuilt)
                    for (symbol, interval, start), item in batch.items():
                        stream = stream_name(symbol, interval)
                        if stream not in self.streams:
                            continue
                        row = await fetch_candle(conn, symbol, interval, start)
                        if row is None:
                            continue
                        end = start + INTERVAL_MS[interval]
                        closed = item.closed or self.newest_minute.get(symbol, -1) >= end
                        self.publish(
                            stream,
                            kline_event(
                                symbol, interval, row, closed=closed, event_ms=self.clock_ms()
                            ),
                        )
            except (psycopg.Error, OSError) as exc:
                logger.warning("reading candles for push failed: %s", str(exc).strip()[:200])
                # Kept for the next turn: a candle that closed meanwhile must still be pushed.
                self.rebuilt[:0] = rebuilt
                for key, item in batch.items():
                    newer = self.pending.setdefault(key, item)
                    newer.closed = newer.closed or item.closed
                await asyncio.sleep(0.5)

    async def run_listener(self, stop: asyncio.Event) -> None:
        """LISTEN on one connection, reconnecting with backoff, until ``stop``."""
        backoff = Backoff(0.1, 5.0, jitter=False)
        lost_ms: int | None = None
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.database_url, autocommit=True, application_name="api-listener"
                ) as conn:
                    await conn.execute(f"listen {CHANNEL}")
                    self.metrics.listening.set(1)
                    self.listening.set()
                    backoff.reset()
                    logger.info("listening on %s", CHANNEL)
                    if lost_ms is not None:
                        self._catch_up(lost_ms)
                        lost_ms = None
                    while not stop.is_set():
                        # A bounded wait, so a stop request is seen within a second.
                        async for notify in conn.notifies(timeout=1.0):
                            self.on_notify(notify.payload)
                            if stop.is_set():
                                break
            except (psycopg.Error, OSError) as exc:
                self.metrics.listening.set(0)
                self.listening.clear()
                if lost_ms is None:
                    lost_ms = self.clock_ms()
                logger.warning("listener lost the database, retrying: %s", str(exc).strip()[:200])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff.next())
        self.metrics.listening.set(0)

    def _catch_up(self, lost_ms: int) -> None:
        """After the listener was away, re-read what subscribers may have missed (a minute that
        closed meanwhile above all): each symbol listened to from its newest minute notified
        before the loss (the minute before the loss if none was) to the minute forming now,
        pushed as it stands. Only rows written since are past that minute, so this is cheap."""
        end_ms = self.clock_ms() + MINUTE_MS
        self.on_rebuilt(
            [
                (symbol, self.newest_minute.get(symbol, lost_ms - MINUTE_MS), end_ms)
                for symbol in self.intervals
            ]
        )
