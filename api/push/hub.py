"""The hub: who listens to which stream, the fan-out of events to them, and the worker that
reads queued candles back from the tables (api/push/__init__.py says how the push works)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from api.binance import MAX_LIMIT, kline_event, stream_name, zoned
from api.klines import KlinesRequest, fetch_klines
from api.metrics import Metrics
from api.push.queue import AHEAD_MS, BACKLOG_SLICE, Pending, next_slice, parse
from api.push.reads import (
    closed_candles,
    fetch_candle,
    fetch_minutes,
    fetch_seconds,
    last_minute,
)
from api.push.senders import Senders
from api.sql import load_sql
from api.symbols import EARLIEST_MS
from include.platform.intervals import (
    MINUTE_MS,
    SECOND,
    SECOND_MS,
    UnknownGrid,
    bucket_end,
    bucket_start,
    grid_offset,
)

logger = logging.getLogger("api.push")

CHANNEL = "candles_1m"
# Runs read from market.rebuilt_runs per turn.
MAX_RUNS = 1_000
# A failing worker is reported by /healthz for this long after its last failed turn.
FAILING_FOR_S = 30.0
PUSH_REBUILT_RUNS = load_sql("push_rebuilt_runs")


class Subscriber:
    """Anything that receives frames: a WebSocket connection or a gRPC stream."""

    combined: bool = False

    def deliver(self, stream: str, event: dict, raw: str, combined: str) -> bool:
        """Queue one event; False when the subscriber cannot keep up and must go."""
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
    # The newest market.rebuilt_runs id read (None until the listener first started).
    runs_seen: int | None = None
    # Items whose read failed once, and the worker's recent turns that failed.
    strikes: dict[tuple, int] = field(default_factory=dict)
    failed_turns: int = 0
    last_failure: float = float("-inf")
    # Old candles read per turn (queue.next_slice): fewer while turns run long.
    slice_size: int = BACKLOG_SLICE
    # Who sent each notification, and those of logins that write nothing, set aside.
    senders: Senders = field(default_factory=Senders)
    _runs_due: bool = False
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

    def _grid(self, symbol: str, key: str) -> tuple[str, int] | None:
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
            self._wake.set()
            return
        if writes is None:
            self._wake.set()  # the worker looks the sender up
        self.on_notify(payload)

    def on_notify(self, payload: str) -> None:
        """One notification: queue the candles of every interval listened to over the minutes
        it names. Never raises: what does not parse is logged and skipped."""
        self.metrics.notifications.inc()
        parsed = parse(payload)
        if parsed is None:
            return
        if parsed.rebuilt:
            self._runs_due = True
            self._wake.set()
            return
        seconds, at_ms, now_ms = parsed.seconds, parsed.at_ms, self.clock_ms()
        for symbol, open_ms in parsed.keys:
            if self.pending.refuses(open_ms, now_ms) or not self.in_range(symbol, open_ms):
                continue
            for key in self.intervals.get(symbol, ()):
                # A 1s stream is fed by the seconds' notifications only, the rest by minutes'.
                if (zoned(key)[0] == SECOND) != seconds:
                    continue
                if (grid := self._grid(symbol, key)) is None:
                    continue
                interval, offset = grid
                item = (symbol, key, bucket_start(interval, open_ms, offset))
                self.pending.add(item, open_ms, now_ms)
        if self.pending:
            self._wake.set()
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
            self._wake.set()

    async def _push_rebuilt(
        self, conn: psycopg.AsyncConnection, batch: list[tuple[str, str, int, int]]
    ) -> None:
        """Push the candles over rebuilt minutes, as they stand now, once each."""
        for symbol, key, first_ms, end_ms in dict.fromkeys(batch):
            stream = stream_name(symbol, key)
            if stream not in self.streams:
                continue
            if (grid := self._grid(symbol, key)) is None:
                continue
            interval, offset = grid
            cursor = bucket_start(interval, first_ms, offset)
            while cursor < end_ms:
                req = KlinesRequest(symbol, interval, cursor, end_ms - 1, MAX_LIMIT, offset)
                rows = await fetch_klines(conn, req)
                if not rows:
                    break
                opens = [row[0] for row in rows]
                closed = await closed_candles(conn, symbol, interval, offset, opens)
                for row in rows:
                    self.publish(
                        stream,
                        kline_event(
                            symbol, key, row, closed=row[0] in closed, event_ms=self.clock_ms()
                        ),
                    )
                cursor = bucket_end(interval, rows[-1][0], offset)

    async def _push_pending(
        self, conn: psycopg.AsyncConnection, batch: dict[tuple[str, str, int], None]
    ) -> None:
        """Read back and push one turn's candles: the 1m ones in one query, with every longer
        candle's last minute (is it closed?), then each longer candle."""
        wanted = [item for item in batch if stream_name(item[0], item[1]) in self.streams]
        seconds = [item for item in wanted if zoned(item[1])[0] == SECOND]
        if seconds:
            await self._push_seconds(conn, seconds)
            wanted = [item for item in wanted if zoned(item[1])[0] != SECOND]
        probes = {(symbol, _last_minute(key, start)) for symbol, key, start in wanted}
        minutes = {(m.symbol, m.row[0]): m for m in await fetch_minutes(conn, sorted(probes))}
        for symbol, open_ms in minutes:
            if open_ms > self.newest_minute.get(symbol, -1):
                self.newest_minute[symbol] = open_ms
        for symbol, key, start in wanted:
            last = minutes.get((symbol, _last_minute(key, start)))
            closed = last is not None and last.closed
            if (grid := self._grid(symbol, key)) is None:
                continue
            interval, offset = grid
            if interval == "1m":
                if last is None:
                    continue
                event = kline_event(
                    symbol,
                    key,
                    last.row,
                    closed=closed,
                    event_ms=self.clock_ms(),
                    first_trade_id=last.first_trade_id,
                    last_trade_id=last.last_trade_id,
                )
            else:
                row = await fetch_candle(conn, symbol, interval, start, offset)
                if row is None:
                    continue
                event = kline_event(symbol, key, row, closed=closed, event_ms=self.clock_ms())
            self.publish(stream_name(symbol, key), event)

    async def _push_seconds(
        self, conn: psycopg.AsyncConnection, wanted: list[tuple[str, str, int]]
    ) -> None:
        """Read back and push 1s candles (SECOND_CANDLE_SYMBOLS), closed as the table says."""
        rows = await fetch_seconds(conn, sorted({(symbol, start) for symbol, _k, start in wanted}))
        found = {(symbol, row[0]): (row, closed) for symbol, row, closed in rows}
        for symbol, key, start in wanted:
            if (hit := found.get((symbol, start))) is not None:
                row, closed = hit
                if start > self.newest_second.get(symbol, -1):
                    self.newest_second[symbol] = start
                event = kline_event(symbol, key, row, closed=closed, event_ms=self.clock_ms())
                self.publish(stream_name(symbol, key), event)

    async def run_worker(self, stop: asyncio.Event) -> None:
        """Read back and push the pending candles of longer intervals until ``stop``."""
        while not stop.is_set():
            senders = self.senders
            for payload in senders.take():
                self.on_notify(payload)
            idle = not (self.pending or self.rebuilt or self._runs_due or senders.unknown)
            if idle and senders.deferred:
                await asyncio.sleep(0)  # the rest of them after the loop's other work
                continue
            if idle:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            live, old = self.pending.take(self.slice_size)
            batch = {**live, **old}
            started = time.monotonic()
            runs_due, self._runs_due = self._runs_due, False
            rebuilt: list[tuple[str, str, int, int]] = []
            try:
                async with self.pool.connection() as conn:
                    if senders.unknown:
                        await senders.look_up(conn)
                    if runs_due:
                        await self._read_runs(conn)
                    rebuilt, self.rebuilt = self.rebuilt, []
                    failed = await self._turn(conn, batch, rebuilt)
            except Exception as exc:  # no connection, or it broke: all of it waits a turn
                logger.warning("reading candles for push failed: %s", str(exc).strip()[:200])
                # Kept for the next turn: a candle that closed meanwhile must still be pushed.
                self.rebuilt[:0] = rebuilt
                self.pending.put_back(live, old)
                self._runs_due = self._runs_due or runs_due
                failed = True
            self._count_turn(failed)
            self.slice_size = next_slice(self.slice_size, len(old), time.monotonic() - started)
            if failed:
                await asyncio.sleep(0.5)

    async def _turn(
        self,
        conn: psycopg.AsyncConnection,
        batch: dict[tuple[str, str, int], None],
        rebuilt: list[tuple[str, str, int, int]],
    ) -> bool:
        """Push one turn's candles, all at once; when that fails, one by one, so one bad item
        holds up no other (an item that fails twice is dropped). True when any failed."""
        try:
            if rebuilt:
                await self._push_rebuilt(conn, rebuilt)
            await self._push_pending(conn, batch)
            return False
        except Exception as exc:
            if conn.broken:
                raise
            logger.warning("reading candles for push failed: %s", str(exc).strip()[:200])
        failed = False
        for run in dict.fromkeys(rebuilt):
            failed |= not await self._one(conn, run, self._push_rebuilt(conn, [run]))
        for item in batch:
            failed |= not await self._one(conn, item, self._push_pending(conn, {item: None}))
        return failed

    async def _one(self, conn: psycopg.AsyncConnection, item: tuple, push: Awaitable) -> bool:
        """Push one item; on failure keep it for the next turn, or drop it after two."""
        try:
            await push
            self.strikes.pop(item, None)
            return True
        except Exception as exc:
            if conn.broken:
                raise
            strikes = self.strikes.pop(item, 0) + 1
            if strikes >= 2:
                logger.warning("dropped from the push after two failures: %s: %s", item, exc)
            else:
                self.strikes[item] = strikes
                if len(item) == 4:
                    self.rebuilt.append(item)  # type: ignore[arg-type]
                else:
                    self.pending.retry(item)  # type: ignore[arg-type]
            return False

    def _count_turn(self, failed: bool) -> None:
        if failed:
            self.failed_turns += 1
            self.last_failure = time.monotonic()
        else:
            self.failed_turns = 0
            self.strikes.clear()

    @property
    def pushing(self) -> bool:
        """False while the worker's recent turns fail (its two last, the last one within
        FAILING_FOR_S): subscribers get nothing, or not all, of what changes."""
        recent = time.monotonic() - self.last_failure < FAILING_FOR_S
        return not (self.failed_turns >= 2 and recent)

    async def _read_runs(self, conn: psycopg.AsyncConnection) -> None:
        """Queue the runs dbt rebuilt since the newest one read (market.rebuilt_runs)."""
        if self.runs_seen is None:
            return
        cur = await conn.execute(PUSH_REBUILT_RUNS, {"after": self.runs_seen, "limit": MAX_RUNS})
        rows = await cur.fetchall()
        if rows:
            self.runs_seen = rows[-1][0]
            self.on_rebuilt([(symbol, first, end) for _id, symbol, first, end in rows])
        if len(rows) == MAX_RUNS:
            self._runs_due = True

    async def runs_from_now(self, conn: psycopg.AsyncConnection) -> None:
        """On the first LISTEN, runs are read from the newest one on (those before were pushed
        by whoever listened then); after a reconnect, those announced meanwhile too."""
        if self.runs_seen is None:
            cur = await conn.execute("select coalesce(max(id), 0) from market.rebuilt_runs")
            self.runs_seen = (await cur.fetchone())[0]  # type: ignore[index]
        else:
            self._runs_due = True

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
            self._wake.set()


def _last_minute(key: str, start: int) -> int:
    """The open time of the last minute of the candle of ``key`` opening at ``start``."""
    interval, offset = zoned(key)
    return last_minute(interval, start, offset)
