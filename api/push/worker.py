"""The push's worker: reads back from the tables the candles the hub queued (and the runs dbt
rebuilt), and hands each to the hub's fan-out as it stands; a turn that fails is retried item
by item (api/push/__init__.py says how the push works)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

import psycopg

from api.binance import MAX_LIMIT, stream_name, zoned
from api.klines import KlinesRequest, fetch_klines
from api.push.event import CandleEvent
from api.push.hub import Hub
from api.push.queue import BACKLOG_SLICE, next_slice
from api.push.reads import (
    closed_candles,
    fetch_candle,
    fetch_minutes,
    fetch_seconds,
    last_minute,
)
from api.sql import load_sql
from include.platform.intervals import SECOND, bucket_end, bucket_start

logger = logging.getLogger("api.push")

# Runs read from market.rebuilt_runs per turn.
MAX_RUNS = 1_000
# A failing worker is reported by /healthz for this long after its last failed turn.
FAILING_FOR_S = 30.0
PUSH_REBUILT_RUNS = load_sql("push_rebuilt_runs")


@dataclass
class Worker:
    """The hub's one reader: a turn at a time, what its notifications queued."""

    hub: Hub
    # Items whose read failed once, and the recent turns that failed.
    strikes: dict[tuple, int] = field(default_factory=dict)
    failed_turns: int = 0
    last_failure: float = float("-inf")
    # Old candles read per turn (queue.next_slice): fewer while turns run long.
    slice_size: int = BACKLOG_SLICE

    async def _push_rebuilt(
        self, conn: psycopg.AsyncConnection, batch: list[tuple[str, str, int, int]]
    ) -> None:
        """Push the candles over rebuilt minutes, as they stand now, once each."""
        for symbol, key, first_ms, end_ms in dict.fromkeys(batch):
            stream = stream_name(symbol, key)
            if not self.hub.wants(stream):
                continue
            if (grid := self.hub.grid_of(symbol, key)) is None:
                continue
            interval, offset = grid
            cursor = bucket_start(interval, first_ms, offset)
            while cursor < end_ms:
                market = self.hub.market
                req = KlinesRequest(
                    symbol, interval, cursor, end_ms - 1, MAX_LIMIT, offset, market.name
                )
                rows = await fetch_klines(conn, req)
                if not rows:
                    break
                opens = [row[0] for row in rows]
                closed = await closed_candles(conn, symbol, interval, offset, opens, market)
                for row in rows:
                    self.hub.publish(
                        stream,
                        CandleEvent(symbol, key, row, row[0] in closed, self.hub.clock_ms()),
                    )
                cursor = bucket_end(interval, rows[-1][0], offset)

    async def _push_pending(
        self, conn: psycopg.AsyncConnection, batch: dict[tuple[str, str, int], None]
    ) -> None:
        """Read back and push one turn's candles: the 1m ones in one query, with every longer
        candle's last minute (is it closed?), then each longer candle."""
        wanted = [item for item in batch if self.hub.wants(stream_name(item[0], item[1]))]
        seconds = [item for item in wanted if zoned(item[1])[0] == SECOND]
        if seconds:
            await self._push_seconds(conn, seconds)
            wanted = [item for item in wanted if zoned(item[1])[0] != SECOND]
        probes = {(symbol, _last_minute(key, start)) for symbol, key, start in wanted}
        found = await fetch_minutes(conn, sorted(probes), self.hub.market)
        minutes = {(m.symbol, m.row[0]): m for m in found}
        for symbol, open_ms in minutes:
            if open_ms > self.hub.newest_minute.get(symbol, -1):
                self.hub.newest_minute[symbol] = open_ms
        for symbol, key, start in wanted:
            last = minutes.get((symbol, _last_minute(key, start)))
            closed = last is not None and last.closed
            if (grid := self.hub.grid_of(symbol, key)) is None:
                continue
            interval, offset = grid
            if interval == "1m":
                if last is None:
                    continue
                event = CandleEvent(
                    symbol,
                    key,
                    last.row,
                    closed,
                    self.hub.clock_ms(),
                    first_trade_id=last.first_trade_id,
                    last_trade_id=last.last_trade_id,
                )
            else:
                row = await fetch_candle(conn, symbol, interval, start, offset, self.hub.market)
                if row is None:
                    continue
                event = CandleEvent(symbol, key, row, closed, self.hub.clock_ms())
            self.hub.publish(stream_name(symbol, key), event)

    async def _push_seconds(
        self, conn: psycopg.AsyncConnection, wanted: list[tuple[str, str, int]]
    ) -> None:
        """Read back and push 1s candles (SECOND_CANDLE_SYMBOLS), closed as the table says."""
        rows = await fetch_seconds(conn, sorted({(symbol, start) for symbol, _k, start in wanted}))
        found = {(symbol, row[0]): (row, closed) for symbol, row, closed in rows}
        for symbol, key, start in wanted:
            if (hit := found.get((symbol, start))) is not None:
                row, closed = hit
                if start > self.hub.newest_second.get(symbol, -1):
                    self.hub.newest_second[symbol] = start
                event = CandleEvent(symbol, key, row, closed, self.hub.clock_ms())
                self.hub.publish(stream_name(symbol, key), event)

    async def run(self, stop: asyncio.Event) -> None:
        """Read back and push the pending candles of longer intervals until ``stop``."""
        while not stop.is_set():
            senders = self.hub.senders
            for payload in senders.take():
                self.hub.on_notify(payload)
            idle = not (
                self.hub.pending or self.hub.rebuilt or self.hub.runs_due or senders.unknown
            )
            if idle and senders.deferred:
                await asyncio.sleep(0)  # the rest of them after the loop's other work
                continue
            if idle:
                self.hub.wake.clear()
                waiter = asyncio.ensure_future(self.hub.wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            live, old = self.hub.pending.take(self.slice_size)
            batch = {**live, **old}
            started = time.monotonic()
            runs_due, self.hub.runs_due = self.hub.runs_due, False
            rebuilt: list[tuple[str, str, int, int]] = []
            try:
                async with self.hub.pool.connection() as conn:
                    if senders.unknown:
                        await senders.look_up(conn)
                    if runs_due:
                        await self._read_runs(conn)
                    rebuilt, self.hub.rebuilt = self.hub.rebuilt, []
                    failed = await self._turn(conn, batch, rebuilt)
            except Exception as exc:  # no connection, or it broke: all of it waits a turn
                logger.warning("reading candles for push failed: %s", str(exc).strip()[:200])
                # Kept for the next turn: a candle that closed meanwhile must still be pushed.
                self.hub.rebuilt[:0] = rebuilt
                self.hub.pending.put_back(live, old)
                self.hub.runs_due = self.hub.runs_due or runs_due
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
                    self.hub.rebuilt.append(item)  # type: ignore[arg-type]
                else:
                    self.hub.pending.retry(item)  # type: ignore[arg-type]
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
        """Queue the runs dbt rebuilt since the newest one read (the market's rebuilt_runs)."""
        if self.hub.runs_seen is None:
            return
        cur = await conn.execute(
            self.hub.market.sql(PUSH_REBUILT_RUNS),
            {"after": self.hub.runs_seen, "limit": MAX_RUNS},
        )
        rows = await cur.fetchall()
        if rows:
            self.hub.runs_seen = rows[-1][0]
            self.hub.on_rebuilt([(symbol, first, end) for _id, symbol, first, end in rows])
        if len(rows) == MAX_RUNS:
            self.hub.runs_due = True


def _last_minute(key: str, start: int) -> int:
    """The open time of the last minute of the candle of ``key`` opening at ``start``."""
    interval, offset = zoned(key)
    return last_minute(interval, start, offset)
