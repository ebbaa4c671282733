"""Prometheus metrics of the API: requests, latencies, subscribers, push lag."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "api_requests_total",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "api_request_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.connections = Gauge(
            "api_ws_connections", "Open WebSocket connections.", registry=self.registry
        )
        self.subscribers = Gauge(
            "api_stream_subscriptions",
            "Stream subscriptions over WebSocket and gRPC.",
            registry=self.registry,
        )
        self.push_lag = Histogram(
            "api_push_lag_seconds",
            "From the database statement that changed a candle to its frames being queued.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.fanout = Histogram(
            "api_push_fanout_seconds",
            "Handing one candle to every subscriber of its stream: encoding it and writing (or "
            "queueing) each frame.",
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
            registry=self.registry,
        )
        self.events = Counter(
            "api_push_events_total", "Kline events pushed, per stream.", registry=self.registry
        )
        self.frames = Counter(
            "api_push_frames_total", "Frames written or queued to clients.", registry=self.registry
        )
        self.dropped = Counter(
            "api_slow_clients_dropped_total",
            "Clients cut off because their queue overflowed.",
            registry=self.registry,
        )
        self.notifications = Counter(
            "api_notifications_total", "NOTIFY messages received.", registry=self.registry
        )
        self.listening = Gauge(
            "api_listener_connected",
            "1 while the LISTEN connection is up.",
            registry=self.registry,
        )
