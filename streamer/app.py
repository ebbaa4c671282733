"""The streamer application: wires shards, aggregator, gaps, recovery, prober, writer, health and
clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from streamer.aggregator import Aggregator
from streamer.clock import ExchangeClock, wall_clock_ms
from streamer.config import StreamerConfig
from streamer.gaps import Gaps
from streamer.health import gauges, health_report, start_health_server
from streamer.inverse import BaseVolumes
from streamer.metrics import Metrics
from streamer.parser import Trade
from streamer.prober import Prober
from streamer.recovery import Recovery
from streamer.rest import RestClient
from streamer.subscriptions import Subscriptions
from streamer.tasks import Tasks
from streamer.writer import Writer

logger = logging.getLogger(__name__)

MAX_LOGGED_MALFORMED = 1000


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
        self.metrics = Metrics()
        # Opened here, closed when run() ends; no request is sent before run().
        self.rest = RestClient(
            config.rest_url, self.metrics, database_url=config.database_url, market=config.market
        )
        # Decisions use the exchange's time, learned from serverTime and the streams.
        self.clock = ExchangeClock(
            self.rest.server_time_ms,
            # Late-bound: the connections are Subscriptions', made below with this clock.
            lambda: self.subscriptions.newest_event_ms(),
            local_ms=clock_ms,
            sync_interval=config.clock_sync_interval,
            retry_initial=2 * config.backoff_initial,
        )
        self.aggregator = aggregator = Aggregator(
            startup_repair=config.startup_repair, second_symbols=config.second_symbols
        )
        # Statuses are followed (Subscriptions.refresh): no idle minute before the first read.
        aggregator.status_read_ms = 0
        self.writer = Writer(
            config.database_url,
            aggregator,
            self.metrics,
            flush_interval=config.flush_interval,
            max_batch_rows=config.max_batch_rows,
            method=writer_method,
            second_retention=config.second_retention,
            market=config.market,
        )
        self.tasks = Tasks()
        # Each part gets the collaborators it uses, nothing else.
        rest, clock, spawn = self.rest, self.clock, self.tasks.spawn
        self.gaps = Gaps(config, aggregator, self.writer, rest, clock, self.metrics, spawn)
        self.recovery = Recovery(
            config, aggregator, self.gaps, self.writer, clock, self.metrics, spawn
        )
        self.subscriptions = Subscriptions(
            config, self, aggregator, self.gaps, self.recovery, rest, clock, self.metrics, spawn
        )
        # The same list and dict Subscriptions keeps (never rebound): the connections, in the
        # order they were opened, and each symbol's.
        self.shards = self.subscriptions.shards
        self.shard_of = self.subscriptions.shard_of
        self.prober = Prober(config, aggregator, rest, clock, self.shard_of, self.gaps.found, spawn)
        # COIN-M: minutes whose base volumes the aggTrades cannot tell close from their klines.
        self.base_volumes = BaseVolumes(aggregator, rest, clock) if config.market.inverse else None
        self.metrics.trades_source = lambda: aggregator.stats.trades
        self.metrics.extra_gauges = lambda: gauges(self.shards, self.writer, aggregator, self.gaps)
        self.metrics.reconnects_source = lambda: {s.name: s.reconnects for s in self.shards}
        self.health_port: int | None = None
        self.ready = asyncio.Event()
        # The other markets' streamers of this process (python -m streamer sets them on the
        # first): its /healthz then answers for all of them, so the one port a deployment
        # probes cannot say ok while another market's streamer is down.
        self.peers: list[Streamer] = []

    # ----------------------------------------------------------------- feed callbacks
    def on_trade(self, trade: Trade, now: float) -> None:
        """A trade from a socket: fold it in; a new gap is recorded and repaired at once."""
        if trade.symbol not in self.shard_of:
            # Still in flight after its symbol was dropped (it left TRADING): a book made again
            # from it would take the symbol's return for a sequence gap, and its halt for trades
            # to fetch, instead of a restart left to heal-gaps.
            return
        gap = self.aggregator.apply(trade, now)
        if gap is not None:
            self.recovery.found(gap)

    def on_malformed(self, shard: str, raw: object, error: Exception) -> None:
        """Count, log with its content, skip."""
        self.metrics.malformed += 1
        if self.metrics.malformed <= MAX_LOGGED_MALFORMED:
            if isinstance(raw, bytes | bytearray | memoryview):
                text = bytes(raw).decode("utf-8", "replace")
            else:
                text = str(raw)
            logger.warning("%s: skipped malformed frame (%s): %.500s", shard, error, text)

    def health(self) -> tuple[bool, dict]:
        """/healthz: ok=False makes it 503 (streamer/health.py); with peers, ok only when every
        market's is, each market's report under "markets"."""
        ok, report = self._own_health()
        if self.peers:
            theirs = {peer.config.market.name: peer.health() for peer in self.peers}
            report["markets"] = {name: body for name, (_ok, body) in theirs.items()}
            ok = ok and all(peer_ok for peer_ok, _body in theirs.values())
        return ok, report

    def _own_health(self) -> tuple[bool, dict]:
        return health_report(
            self.config,
            ready=self.ready,
            shards=self.shards,
            writer=self.writer,
            aggregator=self.aggregator,
            gaps=self.gaps,
            metrics=self.metrics,
            restarts=self.tasks.restarts,
        )

    # ----------------------------------------------------------------- lifecycle
    async def run(self, stop: asyncio.Event | None = None) -> int:
        """Stream until ``stop`` is set; flush everything; 0 when all was written."""
        stop = stop or asyncio.Event()
        cfg = self.config
        async with self.rest:
            runner, self.health_port = await start_health_server(
                cfg.health_host, cfg.health_port, self.health, self.metrics.registry
            )
            writer_task = asyncio.ensure_future(self.writer.run(stop))
            try:
                # Measured in the background (the clock helper starts at once while unsynced): an
                # unreachable REST must not hold up streaming; no quiet minute closes meanwhile.
                symbols = await self.subscriptions.initial(stop)
                if symbols is not None:
                    await self.subscriptions.start(symbols)
                    keep = self.tasks.keep_running
                    helpers = [
                        asyncio.ensure_future(keep("prober", self.prober.run)),
                        asyncio.ensure_future(keep("listings", self.subscriptions.follow)),
                        asyncio.ensure_future(keep("clock", self.clock.run)),
                    ]
                    if self.base_volumes is not None:
                        run = self.base_volumes.run
                        helpers.append(asyncio.ensure_future(keep("base volumes", run)))
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
                    await self.tasks.cancel(*helpers)
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
