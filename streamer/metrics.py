"""Prometheus metrics: plain counters on the hot path, exported by a collector at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1, 2, 5, 10, 30)


class Metrics:
    """Every number the streamer exposes; counters are plain ints so trades stay cheap."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Trade messages received, per symbol: every connection's reader counts into this dict.
        self.messages: dict[str, int] = {}
        self.malformed = 0
        # Read at scrape time: each connection's own count, failed connection attempts included.
        self.reconnects_source: Callable[[], dict[str, int]] = dict
        # Failed gap repair attempts (each is retried), by exception type.
        self.repair_errors: dict[str, int] = {}
        self.gaps_found = 0
        self.gaps_repaired = 0
        self.gaps_unhealed = 0
        # Startup gaps closed from their minutes' klines (Gaps._startup_from_klines).
        self.startup_klines = 0
        self.write_errors = 0
        self.rows_written = 0
        self.rest_requests = 0
        self.rest_weight_used = 0
        self.trades_source: Callable[[], dict[str, int]] = dict
        self.extra_gauges: Callable[[], dict[str, float]] = dict
        self.batch_seconds = Histogram(
            "streamer_write_batch_seconds",
            "Time to write one batch in one transaction.",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.event_to_commit = Histogram(
            "streamer_event_to_commit_seconds",
            "From a trade's arrival to the commit of the candle it changed (oldest per candle).",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.registry.register(_Collector(self))

    def observe_batch(self, seconds: float, rows: int, since: Iterable[float], done: float) -> None:
        """One committed batch: its duration, and each candle's oldest change latency."""
        self.batch_seconds.observe(seconds)
        self.rows_written += rows
        for s in since:
            if s > 0:
                self.event_to_commit.observe(done - s)


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterable:
        m = self.m
        msgs = CounterMetricFamily(
            "streamer_messages", "WebSocket trade messages received, per symbol.", labels=["symbol"]
        )
        for symbol, n in sorted(m.messages.items()):
            msgs.add_metric([symbol], n)
        yield msgs
        trades = CounterMetricFamily(
            "streamer_trades", "Raw trades folded into candles, per symbol.", labels=["symbol"]
        )
        for symbol, n in sorted(m.trades_source().items()):
            trades.add_metric([symbol], n)
        yield trades
        rec = CounterMetricFamily(
            "streamer_reconnects", "Reconnections, per connection.", labels=["connection"]
        )
        for name, n in sorted(m.reconnects_source().items()):
            rec.add_metric([name], n)
        yield rec
        errors = CounterMetricFamily(
            "streamer_repair_errors",
            "Failed gap repair attempts (retried with backoff), per error type.",
            labels=["error"],
        )
        for kind, n in sorted(m.repair_errors.items()):
            errors.add_metric([kind], n)
        yield errors
        for name, doc, value in (
            (
                "streamer_malformed_frames",
                "Frames skipped as malformed or unexpected.",
                m.malformed,
            ),
            ("streamer_gaps_found", "Trade-id gaps detected.", m.gaps_found),
            ("streamer_gaps_repaired", "Gaps filled from REST.", m.gaps_repaired),
            ("streamer_gaps_unhealed", "Gaps REST could not fill.", m.gaps_unhealed),
            (
                "streamer_startup_gaps_from_klines",
                "Startup gaps closed from their minutes' klines, not their trades.",
                m.startup_klines,
            ),
            ("streamer_write_errors", "Failed database writes (retried).", m.write_errors),
            ("streamer_rows_written", "Candle rows upserted.", m.rows_written),
            ("streamer_rest_requests", "REST requests sent.", m.rest_requests),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily(
            "streamer_rest_weight_used", "Last X-MBX-USED-WEIGHT-1M seen.", value=m.rest_weight_used
        )
        for name, value in sorted(m.extra_gauges().items()):
            yield GaugeMetricFamily(name, name.replace("_", " "), value=value)
