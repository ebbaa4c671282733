"""The streamer application: wires shards, aggregator, repairs, probes, writer and health."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_not_exception_type,
    stop_before_delay,
    wait_exponential_jitter,
)

from include.symbols import in_shard, trading_symbols
from streamer.aggregator import MINUTE_MS, Aggregator, Gap, ms_to_datetime
from streamer.config import StreamerConfig
from streamer.connection import AttemptLimiter, Shard
from streamer.health import start_health_server
from streamer.metrics import Metrics
from streamer.parser import Trade
from streamer.rest import PAGE, RestClient, RestUnavailable
from streamer.writer import GapOp, Writer

logger = logging.getLogger(__name__)

HEALED_BY = "streamer:rest"
# A probe covers at most this span with one cheap aggTrades window (Binance allows 1 h).
PROBE_WINDOW_MS = 3_500_000
MAX_LOGGED_MALFORMED = 1000


def wall_clock_ms() -> int:
    """The real UTC time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class GiveUp(RuntimeError):
    """A gap REST will not be asked to fill (too large)."""


class Streamer:
    """One running sidecar. ``await Streamer(cfg).run(stop)`` returns the exit status."""

    def __init__(
        self,
        config: StreamerConfig,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        writer_method: str = "unnest",
    ) -> None:
        self.config = config
        # The host clock; decisions use clock_ms(), the exchange's time learned from serverTime.
        self._local_clock_ms = clock_ms
        self.clock_offset_ms = 0
        # Until serverTime has been read once, no quiet minute closes: the host's clock alone
        # may run ahead of the exchange's.
        self.clock_synced = False
        self.metrics = Metrics()
        self.aggregator = Aggregator(startup_repair=config.startup_repair)
        self.metrics.trades_source = lambda: self.aggregator.stats.trades
        self.metrics.extra_gauges = self._gauges
        self.metrics.reconnects_source = lambda: {s.name: s.reconnects for s in self.shards}
        self.writer = Writer(
            config.database_url,
            self.aggregator,
            self.metrics,
            flush_interval=config.flush_interval,
            max_batch_rows=config.max_batch_rows,
            method=writer_method,
        )
        self.limiter = AttemptLimiter(config.connect_attempts, config.connect_window)
        self.rest: RestClient | None = None
        self.shards: list[Shard] = []
        self.shard_of: dict[str, Shard] = {}
        self._shard_tasks: list[asyncio.Task] = []
        self._tasks: set[asyncio.Task] = set()
        self._probing: set[str] = set()
        self._last_probe: dict[str, float] = {}
        self._gap_keys: collections.Counter[tuple[str, int]] = collections.Counter()
        self._failed_keys: set[tuple[str, int]] = set()
        self.stop_event: asyncio.Event | None = None
        self.health_port: int | None = None
        self.started = time.monotonic()
        self.ready = asyncio.Event()
        self.last_repair_error: str | None = None
        # Repairs whose last attempt failed: gap id -> (first failure, monotonic; last error).
        self.failing_repairs: dict[int, tuple[float, str]] = {}

    # ----------------------------------------------------------------- exchange time
    def clock_ms(self) -> int:
        """The exchange's clock: the host's corrected by the offset measured from serverTime.

        Quiet minutes close when this says they are over; a host clock a few seconds ahead
        must not close a minute before Binance has finished it.
        """
        return self._local_clock_ms() + self.clock_offset_ms

    async def _sync_clock(self) -> bool:
        """Measure the offset to Binance's serverTime; False when REST did not answer.

        serverTime was read at some instant of the round trip; pairing it with the round
        trip's end makes clock_ms() a lower bound of the exchange's time, so a quiet minute
        may close one round trip late but never early.
        """
        assert self.rest is not None
        try:
            server = await self.rest.server_time_ms()
            received = self._local_clock_ms()
        except Exception as exc:  # keep the last offset; the next round tries again
            logger.warning("exchange time not measured: %s", exc)
            return False
        offset = server - received
        if not self.clock_synced or abs(offset - self.clock_offset_ms) > 1_000:
            logger.info("host clock is %+d ms off the exchange's; using exchange time", -offset)
        self.clock_offset_ms = offset
        self.clock_synced = True
        return True

    async def _clock_loop(self) -> None:
        """Re-measure every clock_sync_interval; retry sooner (with backoff) after a failure."""
        interval = self.config.clock_sync_interval
        delay = interval if self.clock_synced else 0.0
        while True:
            await asyncio.sleep(delay)
            ok = await self._sync_clock()
            delay = max(delay, self.config.backoff_initial)
            delay = interval if ok else min(delay * 2, interval)

    # ----------------------------------------------------------------- feed callbacks
    def on_trade(self, trade: Trade, now: float) -> None:
        """A trade from a socket: fold it in; a new gap is recorded and repaired at once."""
        gap = self.aggregator.apply(trade, now)
        if gap is not None:
            self._gap_found(gap)

    def on_malformed(self, shard: str, raw: object, error: Exception) -> None:
        """Count, log with its content, skip."""
        self.metrics.malformed += 1
        if self.metrics.malformed <= MAX_LOGGED_MALFORMED:
            if isinstance(raw, bytes | bytearray | memoryview):
                text = bytes(raw).decode("utf-8", "replace")
            else:
                text = str(raw)
            logger.warning("%s: skipped malformed frame (%s): %.500s", shard, error, text)

    # ----------------------------------------------------------------- gaps
    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        # A background task that dies must say so at once, not when it is garbage-collected.
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "background task %s failed",
                task.get_name(),
                exc_info=task.exception(),
                extra={"task": task.get_name()},
            )

    def _gap_found(self, gap: Gap) -> None:
        if gap.reason != "startup":
            self.metrics.gaps_found += 1
            self._gap_keys[(gap.symbol, gap.gap_start)] += 1
            self.writer.add_gap_op(GapOp("record", gap, detail=_describe(gap)))
            logger.warning("gap %s: %s", gap.symbol, _describe(gap), extra=_gap_context(gap))
        self._spawn(self._repair(gap), f"repair {gap.symbol} {gap.id}")

    async def _repair(self, gap: Gap) -> None:
        """Fill a gap from REST; whatever fails, the gap ends healed or recorded unhealed.

        A gap left pending holds back every later minute of its symbol, so no error may leave
        this task with the gap still pending: past the deadline it goes to heal-gaps and the
        symbol's minutes close again.
        """
        try:
            trades = await self._fetch_with_retries(gap)
            self._repair_done(gap, trades)
        except asyncio.CancelledError:
            raise
        except GiveUp as exc:
            self._repair_failed(gap, str(exc))
        except Exception as exc:
            self._count_repair_error(gap, exc)
            self._repair_failed(gap, f"{type(exc).__name__}: {exc}")
        finally:
            self.failing_repairs.pop(gap.id, None)

    async def _fetch_with_retries(self, gap: Gap) -> list[Trade]:
        """_fetch_gap, retried on any error (GiveUp aside) with jittered exponential backoff."""
        deadline = time.monotonic() + self.config.repair_deadline

        def banned_past_deadline(_state: RetryCallState) -> bool:
            assert self.rest is not None
            return self.rest.banned_for() > deadline - time.monotonic()

        retrying = AsyncRetrying(
            retry=retry_if_not_exception_type((GiveUp, asyncio.CancelledError)),
            wait=wait_exponential_jitter(multiplier=0.2, max=30.0, jitter=0.2),
            stop=stop_before_delay(self.config.repair_deadline) | banned_past_deadline,
            before_sleep=lambda state: self._repair_attempt_failed(gap, state),
            reraise=True,
        )
        return await retrying(self._fetch_gap, gap)

    def _repair_attempt_failed(self, gap: Gap, state: RetryCallState) -> None:
        """Count, log and show one failed attempt; the next one follows after the backoff."""
        assert state.outcome is not None
        exc = state.outcome.exception()
        assert exc is not None
        self._count_repair_error(gap, exc)
        since = self.failing_repairs.get(gap.id, (time.monotonic(), ""))[0]
        self.failing_repairs[gap.id] = (since, f"{type(exc).__name__}: {exc}")
        context = _gap_context(gap) | {
            "attempt": state.attempt_number,
            "error": type(exc).__name__,
            "retry_in_s": round(state.upcoming_sleep, 3),
        }
        # An outage REST reported is a warning; anything else is a defect or a surprise.
        expected = isinstance(exc, RestUnavailable)
        logger.log(
            logging.WARNING if expected else logging.ERROR,
            "repair of gap %s failed, retrying: %s",
            gap.symbol,
            exc,
            exc_info=None if expected else exc,
            extra=context,
        )

    def _count_repair_error(self, gap: Gap, exc: BaseException) -> None:
        kind = type(exc).__name__
        self.metrics.repair_errors[kind] = self.metrics.repair_errors.get(kind, 0) + 1
        self.last_repair_error = f"{gap.symbol}: {kind}: {exc}"

    def _repair_done(self, gap: Gap, trades: list[Trade]) -> None:
        self.aggregator.apply_repair(gap, trades, time.monotonic())
        if gap.reason == "startup":
            return
        self.metrics.gaps_repaired += 1
        key = (gap.symbol, gap.gap_start)
        self._gap_keys[key] -= 1
        if self._gap_keys[key] <= 0 and key not in self._failed_keys:
            n = sum(t.count for t in trades)
            detail = f"{_describe(gap)}; {n} trades from REST"
            self.writer.add_gap_op(GapOp("heal", gap, healed_by=HEALED_BY, detail=detail))
        logger.info(
            "gap %s healed: %d records from REST", gap.symbol, len(trades), extra=_gap_context(gap)
        )

    async def _fetch_gap(self, gap: Gap) -> list[Trade]:
        assert self.rest is not None
        stream = self.config.stream
        if gap.lo_seq is None:
            first = await self.rest.first_in(gap.symbol, gap.t_lo, gap.t_hi)
            if first is None:
                return []
            seq0 = first.seq if stream == "aggTrade" else first.first_id
            if seq0 > gap.hi_seq:
                return []
            gap.lo_seq, gap.first_missing_trade_id = seq0, first.first_id
        size = gap.hi_seq - gap.lo_seq + 1
        if size > self.config.repair_max_trades:
            raise GiveUp(f"{size} missing ids exceed STREAMER_REPAIR_MAX_TRADES; left to heal-gaps")
        out: list[Trade] = []
        nxt = gap.lo_seq
        while nxt <= gap.hi_seq:
            page = await self.rest.by_id(gap.symbol, stream, nxt, min(PAGE, gap.hi_seq - nxt + 1))
            page = [t for t in page if t.seq >= nxt]
            if not page or page[0].seq != nxt:
                raise RestUnavailable(f"REST has no {gap.symbol} id {nxt} yet")
            for t in page:
                if t.seq > gap.hi_seq:
                    break
                if t.seq != nxt:
                    raise RestUnavailable(f"REST skipped {gap.symbol} id {nxt}")
                out.append(t)
                nxt += 1
        return out

    def _repair_failed(self, gap: Gap, reason: str) -> None:
        """REST will not fill the gap: record it unhealed for heal-gaps, release its minutes."""
        self.aggregator.fail_repair(gap, time.monotonic())
        self.metrics.gaps_unhealed += 1
        key = (gap.symbol, gap.gap_start)
        self._failed_keys.add(key)
        detail = f"{_describe(gap)}; not repaired from REST: {reason}"
        logger.error(
            "gap %s unhealed: %s", gap.symbol, detail, extra=_gap_context(gap) | {"error": reason}
        )
        # A startup gap is written only when it could not be repaired.
        self.writer.add_gap_op(
            GapOp("record" if gap.reason == "startup" else "note", gap, detail=detail)
        )

    # ----------------------------------------------------------------- seeds
    async def _seed(self, symbols: list[str]) -> None:
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
                gap = self.aggregator.seed(symbol, last, self.clock_ms())
                if gap is not None:
                    self._gap_found(gap)

        await asyncio.gather(*(one(s) for s in symbols))

    # ----------------------------------------------------------------- probes
    async def _prober(self) -> None:
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
            if self.rest is None or self.rest.banned_for() > 0 or not self.clock_synced:
                continue
            now_ms = self.clock_ms()
            mono = time.monotonic()
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
                self._probing.add(symbol)
                self._last_probe[symbol] = mono
                self._spawn(self._probe(symbol), f"probe {symbol}")

    async def _probe(self, symbol: str) -> None:
        assert self.rest is not None
        try:
            at_ms = self.clock_ms()
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
                        self._gap_found(gap)
            self.aggregator.prove(symbol, proven, time.monotonic())
        except RestUnavailable as exc:
            logger.warning("probe %s failed: %s", symbol, exc)
        finally:
            self._probing.discard(symbol)

    # ----------------------------------------------------------------- symbols
    def assign(self, symbols: list[str]) -> None:
        """Put new symbols on shards with room (1024 streams per connection at most)."""
        fresh = [s for s in symbols if s not in self.shard_of]
        while fresh:
            shard = next((s for s in self.shards if s.room() > 0), None)
            if shard is None:
                shard = Shard(
                    f"conn{len(self.shards) + 1}",
                    self.config,
                    self,
                    self.limiter,
                    messages=self.metrics.messages,
                )
                self.shards.append(shard)
                if self.stop_event is not None:
                    self._shard_tasks.append(asyncio.ensure_future(shard.run(self.stop_event)))
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

    async def _refresh_symbols(self) -> list[str] | None:
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
            return self._mine(self.config.symbols)
        return self._mine(trading_symbols(info))

    def _mine(self, symbols: Iterable[str]) -> list[str]:
        """The symbols of this process's shard (STREAMER_SHARD), all of them without one."""
        return in_shard(symbols, self.config.shard)

    async def _symbols_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.symbols_refresh_interval)
            wanted = await self._refresh_symbols()
            if wanted is None or self.config.symbols is not None:
                continue
            gone = [s for s in self.shard_of if s not in set(wanted)]
            new = [s for s in wanted if s not in self.shard_of]
            if new:
                logger.info("subscribing %d newly trading symbols", len(new))
                self.assign(new)
                self._spawn(self._seed(new), "seed")
            if gone:
                logger.info("unsubscribing %d symbols no longer trading", len(gone))
                self.unassign(gone)

    # ----------------------------------------------------------------- health
    def _gauges(self) -> dict[str, float]:
        now = time.monotonic()
        return {
            "streamer_connections_up": sum(1 for s in self.shards if s.state == "connected"),
            "streamer_writer_lag_seconds": self.writer.lag(now),
            "streamer_gaps_pending": self.aggregator.pending_gaps(),
            "streamer_repairs_failing": len(self.failing_repairs),
            "streamer_candles_pending": len(self.aggregator.dirty),
            "streamer_database_up": 1 if self.writer.db_ok else 0,
        }

    def health(self) -> tuple[bool, dict]:
        """Per-connection state, last event age, writer lag; ok=False makes /healthz 503."""
        now = time.monotonic()
        cfg = self.config
        conns = []
        ok = self.ready.is_set()
        for shard in self.shards:
            down_for = 0.0 if shard.down_since is None else now - shard.down_since
            if down_for > cfg.health_max_disconnected:
                ok = False
            conns.append(
                {
                    "name": shard.name,
                    "state": shard.state,
                    "state_for_s": round(now - shard.state_since, 3),
                    "disconnected_for_s": round(down_for, 3),
                    "streams": len(shard.symbols),
                    "last_event_age_s": round(now - shard.last_data, 3),
                    "reconnects": shard.reconnects,
                    "rotations": shard.rotations,
                }
            )
        lag = self.writer.lag(now)
        if lag > cfg.health_max_writer_lag:
            ok = False
        failing_for = max((now - since for since, _e in self.failing_repairs.values()), default=0.0)
        if failing_for > cfg.health_max_repair_failing:
            ok = False
        body = {
            "ok": ok,
            "shard": f"{cfg.shard.index}/{cfg.shard.count}" if cfg.shard else None,
            "connections": conns,
            "writer": {
                "lag_s": round(lag, 3),
                "database_up": self.writer.db_ok,
                "last_commit_age_s": round(now - self.writer.last_commit, 3),
                "pending_candles": len(self.aggregator.dirty),
                "rows_written": self.writer.rows_written,
                "last_error": None if self.writer.db_ok else self.writer.last_error,
            },
            "gaps": {
                "pending": self.aggregator.pending_gaps(),
                "repairs_failing": len(self.failing_repairs),
                "repair_failing_for_s": round(failing_for, 3),
                "repair_errors": sum(self.metrics.repair_errors.values()),
                "last_repair_error": self.last_repair_error,
                "found": self.metrics.gaps_found,
                "repaired": self.metrics.gaps_repaired,
                "unhealed": self.metrics.gaps_unhealed,
            },
            "malformed_frames": self.metrics.malformed,
        }
        return ok, body

    # ----------------------------------------------------------------- lifecycle
    async def run(self, stop: asyncio.Event | None = None) -> int:
        """Stream until ``stop`` is set; flush everything; 0 when all was written."""
        self.stop_event = stop = stop or asyncio.Event()
        cfg = self.config
        async with RestClient(cfg.rest_url, self.metrics, database_url=cfg.database_url) as rest:
            self.rest = rest
            runner, self.health_port = await start_health_server(
                cfg.health_host, cfg.health_port, self.health, self.metrics.registry
            )
            writer_task = asyncio.ensure_future(self.writer.run(stop))
            try:
                # Measured in the background (_clock_loop starts at once while unsynced): an
                # unreachable REST must not hold up streaming; no quiet minute closes meanwhile.
                symbols = await self._initial_symbols(stop)
                if symbols is not None:
                    self.assign(symbols)
                    helpers = [
                        asyncio.ensure_future(self._prober()),
                        asyncio.ensure_future(self._symbols_loop()),
                        asyncio.ensure_future(self._clock_loop()),
                    ]
                    self._spawn(self._seed(symbols), "seed")
                    self.ready.set()
                    logger.info(
                        "streaming %d symbols on %d connections (%s stream%s)",
                        len(symbols),
                        len(self.shards),
                        cfg.stream,
                        f", shard {cfg.shard.index}/{cfg.shard.count}" if cfg.shard else "",
                    )
                    await stop.wait()
                    logger.info("stopping: closing connections and flushing every candle")
                    await asyncio.gather(*self._shard_tasks, return_exceptions=True)
                    for t in [*helpers, *self._tasks]:
                        t.cancel()
                    await asyncio.gather(*helpers, *self._tasks, return_exceptions=True)
            finally:
                stop.set()
                await asyncio.gather(writer_task, return_exceptions=True)
                flushed = await self.writer.drain(30.0)
                await runner.cleanup()
        if not flushed:
            logger.error(
                "database unreachable: %d candles could not be written", len(self.aggregator.dirty)
            )
            return 1
        logger.info("stopped; %d candle rows written", self.writer.rows_written)
        return 0

    async def _initial_symbols(self, stop: asyncio.Event) -> list[str] | None:
        delay = self.config.backoff_initial
        while not stop.is_set():
            wanted = await self._refresh_symbols()
            if wanted is not None:
                return wanted
            if self.config.symbols is not None:
                return self._mine(self.config.symbols)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.backoff_max)
        return None


def _gap_context(gap: Gap) -> dict[str, object]:
    """A gap's identity as structured log fields."""
    return {
        "symbol": gap.symbol,
        "gap_id": gap.id,
        "gap_reason": gap.reason,
        "gap_start": ms_to_datetime(gap.gap_start).isoformat(),
        "gap_end": ms_to_datetime(gap.gap_end).isoformat(),
    }


def _describe(gap: Gap) -> str:
    span = f"{ms_to_datetime(gap.t_lo).isoformat()}..{ms_to_datetime(gap.t_hi).isoformat()}"
    ids = (
        f"trade ids {gap.first_missing_trade_id}..{gap.last_missing_trade_id}"
        if gap.first_missing_trade_id is not None
        else f"trades before id {gap.last_missing_trade_id + 1}"
    )
    return f"{gap.reason}: {ids} missing, {span}"
