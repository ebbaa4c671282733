"""The streamer's settings: one frozen object, built from include.platform.settings' model."""

from __future__ import annotations

from dataclasses import dataclass, replace

from include.platform.markets import MARKETS, SPOT, Market
from include.platform.settings import (
    MAX_STREAMS_PER_CONNECTION,
    Settings,
    Shard,
    from_settings,
    get_settings,
    setting,
)

STREAM_KINDS = ("trade", "aggTrade")
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


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
    """Everything the streamer needs; tests build one directly with short timings.

    A setting() field takes the model's default and, in load_config, its value.
    """

    database_url: str
    # None means ALL: every TRADING symbol of exchangeInfo, followed while running.
    symbols: tuple[str, ...] | None
    # The Binance market it streams (MARKETS): its URLs, paths, weights and schemas.
    market: Market = SPOT
    ws_url: str = setting("binance_ws_url")
    rest_url: str = setting("binance_rest_url")
    stream: str = setting("streamer_stream")
    # How often the open minute's row is rewritten while it forms.
    flush_interval: float = setting("streamer_flush_interval")
    max_batch_rows: int = setting("streamer_max_batch_rows")
    # How long after a minute ends, by the clock, a quiet symbol's candle is closed.
    close_grace: float = setting("streamer_close_grace")
    # How often the offset to the exchange's clock (serverTime) is measured again.
    clock_sync_interval: float = setting("streamer_clock_sync_interval")
    health_host: str = setting("streamer_health_host")
    health_port: int = 8795
    streams_per_connection: int = setting("streamer_streams_per_connection")
    backoff_initial: float = setting("streamer_backoff_initial")
    backoff_max: float = setting("streamer_backoff_max")
    # No frame and no pong for this long: the socket is stalled, reconnect.
    silence_timeout: float = setting("streamer_silence_timeout")
    # Binance cuts every connection at 24 h; the replacement opens before that.
    rotate_after: float = setting("streamer_rotate_after")
    # Binance: at most 5 incoming messages per second per connection, subscribes included.
    control_messages_per_second: float = 3.0
    subscribe_chunk: int = 200
    # Binance: 300 connection attempts per 5 minutes per IP.
    connect_attempts: int = 300
    connect_window: float = 300.0
    symbols_refresh_interval: float = setting("streamer_symbols_refresh")
    repair_max_trades: int = setting("streamer_repair_max_trades")
    repair_deadline: float = setting("streamer_repair_deadline")
    # Fetch the trades a symbol's first minute had before we subscribed, so it closes exact.
    startup_repair: bool = setting("streamer_startup_repair")
    health_max_writer_lag: float = 30.0
    health_max_disconnected: float = 60.0
    # /healthz turns 503 while a gap repair has kept failing this long (its symbol is stuck).
    health_max_repair_failing: float = 60.0
    # auto: uvloop when importable (cheaper socket reads and callbacks), else asyncio's loop.
    event_loop: str = setting("streamer_loop")
    # STREAMER_SHARD=k/n: this process streams only the symbols that hash to k of n.
    shard: Shard | None = None
    # SECOND_CANDLE_SYMBOLS: these also get 1s candles, kept SECOND_CANDLE_RETENTION seconds.
    second_symbols: frozenset[str] = frozenset()
    second_retention: float = 2 * 86400.0

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


# Each market's health port is the spot one's plus this many times its place in MARKETS' order
# (spot 8795, usdm 8895, coinm 8995): shards of one market on a host keep +k.
MARKET_PORT_STEP = 100


def load_config(
    settings: Settings | None = None, database_url: str | None = None, market: Market = SPOT
) -> StreamerConfig:
    """One market's streamer configuration from the settings (the DESIGN variables, the
    market's symbols and URLs, and STREAMER_*)."""
    settings = settings or get_settings()
    if database_url is None:
        from include.platform import db

        # Its own role: STREAMER_DATABASE_URL, else DATABASE_URL's server as streamer_writer.
        database_url = db.resolve_role_url(db.STREAMER, settings, start=False)
    shard = settings.streamer_shard
    health_port = settings.streamer_health_port
    if health_port is None:
        # Shards on one host each get their own port unless told: 8795 + k.
        health_port = 8795 + (shard.index if shard else 0)
    if health_port:
        # 0 (a free port, as tests ask) stays 0 for every market.
        health_port += MARKET_PORT_STEP * list(MARKETS).index(market.name)
    return from_settings(
        StreamerConfig,
        settings,
        database_url=database_url,
        market=market,
        symbols=getattr(settings, market.symbols_setting),
        ws_url=getattr(settings, market.ws_url_setting),
        rest_url=getattr(settings, market.rest_url_setting),
        stream=market.live_stream or settings.streamer_stream,
        health_port=health_port,
        shard=shard,
        # 1-second candles are spot's (market.candles_1s_live).
        second_symbols=settings.second_candle_symbols if market is SPOT else frozenset(),
        second_retention=settings.second_candle_retention,
        # STREAMER_STREAMS_PER_CONNECTION, within what the market's WebSocket allows.
        streams_per_connection=min(settings.streamer_streams_per_connection, market.max_streams),
    )
