"""The streamer's settings: one frozen object read from the environment."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

from include.settings import Settings, get_settings
from include.symbols import Shard, parse_shard

logger = logging.getLogger(__name__)

STREAM_KINDS = ("trade", "aggTrade")
EVENT_LOOPS = ("auto", "uvloop", "asyncio")
# Binance allows 1024 streams per connection.
MAX_STREAMS_PER_CONNECTION = 1024


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: {raw!r} is not a number") from exc


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: {raw!r} is not an integer") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: {raw!r} is not a boolean")


def ws_base(url: str) -> str:
    """BINANCE_WS_URL as a ws:// or wss:// base: http maps to ws, https to wss."""
    url = url.rstrip("/")
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith(("ws://", "wss://")):
        return url
    raise ValueError(f"BINANCE_WS_URL: {url!r} must start with ws://, wss://, http:// or https://")


@dataclass(frozen=True)
class StreamerConfig:
    """Everything the streamer needs; tests build one directly with short timings."""

    database_url: str
    # None means ALL: every TRADING symbol of exchangeInfo, followed while running.
    symbols: tuple[str, ...] | None
    ws_url: str = "wss://stream.binance.com:9443"
    rest_url: str = "https://api.binance.com"
    stream: str = "trade"
    # How often the open minute's row is rewritten while it forms.
    flush_interval: float = 0.1
    max_batch_rows: int = 5000
    # How long after a minute ends, by the clock, a quiet symbol's candle is closed.
    close_grace: float = 2.0
    # How often the offset to the exchange's clock (serverTime) is measured again.
    clock_sync_interval: float = 60.0
    health_host: str = "127.0.0.1"
    health_port: int = 8795
    streams_per_connection: int = MAX_STREAMS_PER_CONNECTION
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    # No frame and no pong for this long: the socket is stalled, reconnect.
    silence_timeout: float = 10.0
    # Our own ping: proves the socket is live, so quiet symbols can close by the clock.
    liveness_interval: float = 1.0
    # Binance cuts every connection at 24 h; the replacement opens before that.
    rotate_after: float = 23.5 * 3600
    # Binance: at most 5 incoming messages per second per connection, subscribes included.
    control_messages_per_second: float = 3.0
    subscribe_chunk: int = 200
    # Binance: 300 connection attempts per 5 minutes per IP.
    connect_attempts: int = 300
    connect_window: float = 300.0
    symbols_refresh_interval: float = 60.0
    repair_max_trades: int = 100_000
    repair_deadline: float = 300.0
    # Fetch the trades a symbol's first minute had before we subscribed, so it closes exact.
    startup_repair: bool = True
    health_max_writer_lag: float = 30.0
    health_max_disconnected: float = 60.0
    # /healthz turns 503 while a gap repair has kept failing this long (its symbol is stuck).
    health_max_repair_failing: float = 60.0
    # auto: uvloop when importable (cheaper socket reads and callbacks), else asyncio's loop.
    event_loop: str = "auto"
    # STREAMER_SHARD=k/n: this process streams only the symbols that hash to k of n.
    shard: Shard | None = None

    def __post_init__(self) -> None:
        if self.stream not in STREAM_KINDS:
            raise ValueError(f"STREAMER_STREAM: {self.stream!r} is not one of {STREAM_KINDS}")
        if not 1 <= self.streams_per_connection <= MAX_STREAMS_PER_CONNECTION:
            raise ValueError("STREAMER_STREAMS_PER_CONNECTION must be between 1 and 1024")
        if self.flush_interval <= 0:
            raise ValueError("STREAMER_FLUSH_INTERVAL must be > 0")
        if self.event_loop not in EVENT_LOOPS:
            raise ValueError(f"STREAMER_LOOP: {self.event_loop!r} is not one of {EVENT_LOOPS}")
        ws_base(self.ws_url)

    def with_(self, **changes: object) -> StreamerConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def load_config(
    settings: Settings | None = None, database_url: str | None = None
) -> StreamerConfig:
    """Read the DESIGN variables via include.settings and the STREAMER_* knobs."""
    settings = settings or get_settings()
    if database_url is None:
        from include import db

        # Its own role: STREAMER_DATABASE_URL, else DATABASE_URL's server as streamer_writer.
        database_url = db.resolve_role_url(db.STREAMER, settings)
    shard = parse_shard(os.environ.get("STREAMER_SHARD"))
    return StreamerConfig(
        database_url=database_url,
        symbols=settings.symbols,
        ws_url=settings.binance_ws_url,
        rest_url=settings.binance_rest_url,
        stream=os.environ.get("STREAMER_STREAM", "trade") or "trade",
        flush_interval=_env_float("STREAMER_FLUSH_INTERVAL", 0.1),
        max_batch_rows=_env_int("STREAMER_MAX_BATCH_ROWS", 5000),
        close_grace=_env_float("STREAMER_CLOSE_GRACE", 2.0),
        clock_sync_interval=_env_float("STREAMER_CLOCK_SYNC_INTERVAL", 60.0),
        health_host=os.environ.get("STREAMER_HEALTH_HOST", "127.0.0.1") or "127.0.0.1",
        # Shards on one host each get their own port unless told: 8795 + k.
        health_port=_env_int("STREAMER_HEALTH_PORT", 8795 + (shard.index if shard else 0)),
        streams_per_connection=_env_int(
            "STREAMER_STREAMS_PER_CONNECTION", MAX_STREAMS_PER_CONNECTION
        ),
        backoff_initial=_env_float("STREAMER_BACKOFF_INITIAL", 0.5),
        backoff_max=_env_float("STREAMER_BACKOFF_MAX", 30.0),
        silence_timeout=_env_float("STREAMER_SILENCE_TIMEOUT", 10.0),
        liveness_interval=_env_float("STREAMER_LIVENESS_INTERVAL", 1.0),
        rotate_after=_env_float("STREAMER_ROTATE_AFTER", 23.5 * 3600),
        symbols_refresh_interval=_env_float("STREAMER_SYMBOLS_REFRESH", 60.0),
        repair_max_trades=_env_int("STREAMER_REPAIR_MAX_TRADES", 100_000),
        repair_deadline=_env_float("STREAMER_REPAIR_DEADLINE", 300.0),
        startup_repair=_env_bool("STREAMER_STARTUP_REPAIR", True),
        event_loop=(os.environ.get("STREAMER_LOOP", "auto") or "auto").lower(),
        shard=shard,
    )
