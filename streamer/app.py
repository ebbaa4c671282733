"""The streamer application: wires shards, aggregator, gaps, prober, writer, health and clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from include.platform.backoff import Backoff
from streamer.aggregator import Aggregator
from streamer.clock import ExchangeClock, wall_clock_ms
from streamer.config import StreamerConfig
from streamer.connection import Shard
from streamer.gaps import Gaps
from streamer.health import start_health_server
from streamer.metrics import Metrics
from streamer.parser import Trade
from streamer.prober import Prober
from streamer.rest import RestClient
from streamer.subscriptions import Subscriptions
from streamer.writer import Writer

logger = logging.getLogger(__name__)

MAX_LOGGED_MALFORMED = 1000


class Streamer:
    """One running sidecar. ``await Streamer(cfg).run(stop)`` returns the exit status."""

    rest: RestClient  # set by run()

    def __init__(
        self,
        config: StreamerConfig,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        writer_method: str = "unnest",
    ) -> None:
        self.config = config
        # Decisions use clock_ms(), the exchange's time learned from serverTime and the streams.
        self.clock = ExchangeClock(
            lambda: self.rest.server_time_ms(),
            self._newest_event_ms,
            local_ms=clock_ms,
            sync_interval=config.clock_sync_interval,
            retry_initial=2 * config.backoff_initial,
        )
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
        self._tasks: set[asyncio.Task] = set()
        # The WebSocket connections in the order they were opened, and each symbol's.
        self.shards: list[Shard] = []
        self.shard_of: dict[str, Shard] = {}
        # The parts read what they share (config, aggregator, writer, metrics, rest, clock,
        # spawn, each other) off this object.
        self.gaps = Gaps(self)
        self.subscriptions = Subscriptions(self)
        self.prober = Prober(self)
        self.stop_event: asyncio.Event | None = None
        self.health_port: int | None = None
        self.ready = asyncio.Event()
        # Helpers that failed and were started again, by name (see _keep_running).
        self.helper_restarts: dict[str, int] = {}

    # ----------------------------------------------------------------- exchange time
    def clock_ms(self) -> int:
        """The exchange's time now (streamer/clock.py: a lower bound, never ahead of it)."""
        return self.clock.now_ms()

    @property
    def clock_synced(self) -> bool:
        """Whether serverTime has been read once (no quiet minute closes before)."""
        return self.clock.synced

    def _newest_event_ms(self) -> int:
        return max((shard.last_event_ms for shard in self.shards), default=0)

    # ----------------------------------------------------------------- feed callbacks
    def on_trade(self, trade: Trade, now: float) -> None:
        """A trade from a socket: fold it in; a new gap is recorded and repaired at once."""
        gap = self.aggregator.apply(trade, now)
        if gap is not None:
            self.gaps.found(gap)

    def on_malformed(self, shard: str, raw: object, error: Exception) -> None:
        """Count, log with its content, skip."""
        self.metrics.malformed += 1
        if self.metrics.malformed <= MAX_LOGGED_MALFORMED:
            if isinstance(raw, bytes | bytearray | memoryview):
                text = bytes(raw).decode("utf-8", "replace")
            else:
                text = str(raw)
            logger.warning("%s: skipped malformed frame (%s): %.500s", shard, error, text)

    # ----------------------------------------------------------------- background tasks
    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task:
        """A background task, cancelled at shutdown; its failure is logged when it happens."""
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

    # ----------------------------------------------------------------- health
    def _gauges(self) -> dict[str, float]:
        now = time.monotonic()
        return {
            "streamer_connections_up": sum(1 for s in self.shards if s.state == "connected"),
            "streamer_writer_lag_seconds": self.writer.lag(now),
            "streamer_gaps_pending": self.aggregator.pending_gaps(),
            "streamer_repairs_failing": len(self.gaps.failing),
            "streamer_candles_pending": len(self.aggregator.dirty),
            "streamer_database_up": 1 if self.writer.db_ok else 0,
        }

    def health(self) -> tuple[bool, dict]:
        """Per-connection state, last event age, writer lag; ok=False makes /healthz 503."""
        now = time.monotonic()
        cfg = self.config
        down = {s.name: 0.0 if s.down_since is None else now - s.down_since for s in self.shards}
        lag = self.writer.lag(now)
        failing_for = max((now - since for since, _e in self.gaps.failing.values()), default=0.0)
        ok = (
            self.ready.is_set()
            and max(down.values(), default=0.0) <= cfg.health_max_disconnected
            and lag <= cfg.health_max_writer_lag
            and failing_for <= cfg.health_max_repair_failing
        )
        return ok, {
            "ok": ok,
            "shard": f"{cfg.shard.index}/{cfg.shard.count}" if cfg.shard else None,
            "connections": [
                {
                    "name": shard.name,
                    "state": shard.state,
                    "state_for_s": round(now - shard.state_since, 3),
                    "disconnected_for_s": round(down[shard.name], 3),
                    "streams": len(shard.symbols),
                    "last_event_age_s": round(now - shard.last_data, 3),
                    "reconnects": shard.reconnects,
                    "rotations": shard.rotations,
                }
                for shard in self.shards
            ],
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
                "repairs_failing": len(self.gaps.failing),
                "repair_failing_for_s": round(failing_for, 3),
                "repair_errors": sum(self.metrics.repair_errors.values()),
                "last_repair_error": self.gaps.last_error,
                "found": self.metrics.gaps_found,
                "repaired": self.metrics.gaps_repaired,
                "unhealed": self.metrics.gaps_unhealed,
            },
            "malformed_frames": self.metrics.malformed,
            "helper_restarts": dict(self.helper_restarts),
        }

    async def _keep_running(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A helper that runs as long as the process (the gap prober, the listing follower,
        the exchange clock): one that fails is logged, counted in /healthz and started again
        (after 1 s, backing off to 30 s), never left dead while the stream goes on."""
        backoff = Backoff(1.0, 30.0, jitter=False)
        while True:
            try:
                await run()
                return
            except Exception:
                self.helper_restarts[name] = self.helper_restarts.get(name, 0) + 1
                logger.exception("%s failed; starting it again", name, extra={"task": name})
                await asyncio.sleep(backoff.next())

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
                symbols = await self.subscriptions.initial(stop)
                if symbols is not None:
                    await self.subscriptions.start(symbols)
                    helpers = [
                        asyncio.ensure_future(self._keep_running("prober", self.prober.run)),
                        asyncio.ensure_future(
                            self._keep_running("listings", self.subscriptions.follow)
                        ),
                        asyncio.ensure_future(self._keep_running("clock", self.clock.run)),
                    ]
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
                    await asyncio.gather(*self.subscriptions.shard_tasks, return_exceptions=True)
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
