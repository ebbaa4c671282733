"""The API's settings: one frozen object, built from include.platform.settings' model."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from pathlib import Path

from include.platform.settings import Settings, from_settings, get_settings, setting


def is_loopback(host: str) -> bool:
    """Does binding ``host`` keep the service on this machine?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ApiConfig:
    """Where to listen, which database to read, and who may ask."""

    database_url: str
    host: str = setting("api_host")
    port: int = setting("api_port")
    grpc_port: int = setting("api_grpc_port")
    tokens: frozenset[str] = frozenset()
    pool_size: int = setting("api_pool_size")
    weight_limit: int = setting("api_weight_limit")
    max_connections: int = setting("api_max_connections")
    max_connections_per_address: int = setting("api_max_connections_per_address")
    ws_connections_per_5m: int = setting("api_ws_connections_per_5m")
    grpc_max_rpcs: int = setting("api_grpc_max_rpcs")
    statement_timeout: float = setting("api_statement_timeout")
    cors_origins: frozenset[str] = frozenset()
    # Proxies whose X-Forwarded-For is believed (empty: the TCP peer is the client).
    trusted_proxies: frozenset[str] = frozenset()
    # Host headers answered besides the loopback names and API_HOST (DNS rebinding).
    allowed_hosts: frozenset[str] = frozenset()
    # Seconds a request waits for a pooled connection before Binance's -1008 (overloaded).
    pool_wait: float = 5.0
    # Seconds an all-symbol ticker answer is served again (Binance refreshes about as often).
    ticker_cache_ttl: float = 1.0
    tls_cert: Path | None = setting("api_tls_cert")  # noqa: RUF009 (its default is None)
    tls_key: Path | None = setting("api_tls_key")  # noqa: RUF009 (its default is None)
    allow_plaintext: bool = setting("api_allow_plaintext")
    # Binance: at most 1024 streams and 5 incoming messages per second per connection.
    max_streams: int = 1024
    max_incoming_per_sec: int = 5
    # Frames queued for one slow client before it is cut off.
    max_queued_frames: int = 10_000
    symbols_ttl: float = 10.0
    # SECOND_CANDLE_SYMBOLS: the symbols whose 1s candles the streamer keeps.
    second_symbols: frozenset[str] = frozenset()
    # SYMBOLS (empty for ALL): served from the first second, before any of their candles.
    configured_symbols: frozenset[str] = frozenset()
    # MARKETS: the futures markets among them get their REST paths (api/futures.py), each with
    # its USDM_SYMBOLS / COINM_SYMBOLS served from the first second.
    markets: tuple[str, ...] = ("spot",)
    futures_symbols: dict[str, frozenset[str]] = field(default_factory=dict)

    def with_(self, **changes: object) -> ApiConfig:
        """A copy with some settings changed."""
        return replace(self, **changes)

    @property
    def exposed(self) -> bool:
        """Bound beyond this machine: tokens required, never taken from a URL."""
        return not is_loopback(self.host)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def host_names(self) -> frozenset[str]:
        """Host header names the API answers (any port): loopback's, API_HOST, API_ALLOWED_HOSTS."""
        own = f"[{self.host}]" if ":" in self.host else self.host
        return frozenset({"localhost", "127.0.0.1", "[::1]", own.lower(), *self.allowed_hosts})

    def check(self) -> None:
        """Refuse an exposed bind without tokens, or without TLS unless API_ALLOW_PLAINTEXT
        says so, and half a TLS configuration."""
        if self.exposed and not self.tokens:
            raise ValueError(
                f"API_HOST={self.host} is not loopback: set API_TOKENS (space- or "
                "comma-separated) so only clients with a token can read"
            )
        if self.exposed and not self.tls and not self.allow_plaintext:
            raise ValueError(
                f"API_HOST={self.host} is not loopback: set API_TLS_CERT and API_TLS_KEY, or "
                "API_ALLOW_PLAINTEXT=true to send tokens and candles unencrypted"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("API_TLS_CERT and API_TLS_KEY go together: set both or neither")
        for name, path in (("API_TLS_CERT", self.tls_cert), ("API_TLS_KEY", self.tls_key)):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name}={path}: no such file")


def load_config(settings: Settings | None = None, *, start: bool = False) -> ApiConfig:
    """The API's configuration from the API_* settings; the database is API_DATABASE_URL, else
    DATABASE_URL's server and database as analytics_reader (API_DATABASE_PASSWORD, else
    DATA_DIR's file). Loading it starts nothing: only the entry point (``start``) starts the
    embedded server when DATABASE_URL is unset."""
    from include.platform import db

    settings = settings or get_settings()
    config = from_settings(
        ApiConfig,
        settings,
        database_url=db.resolve_role_url(db.READER, settings, start=start),
        tokens=settings.api_token_set,
        cors_origins=settings.api_cors_origin_set,
        trusted_proxies=settings.api_trusted_proxy_set,
        allowed_hosts=settings.api_allowed_host_set,
        second_symbols=settings.second_candle_symbols,
        configured_symbols=frozenset(settings.symbols or ()),
        markets=settings.markets,
        futures_symbols={
            "usdm": frozenset(settings.usdm_symbols or ()),
            "coinm": frozenset(settings.coinm_symbols or ()),
        },
    )
    config.check()
    return config
