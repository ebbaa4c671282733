"""The API's settings: one frozen object read from the environment."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, replace


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: {raw!r} is not an integer") from exc


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
    host: str = "127.0.0.1"
    port: int = 8000
    grpc_port: int = 8001
    tokens: frozenset[str] = frozenset()
    pool_size: int = 4
    # Binance: at most 1024 streams and 5 incoming messages per second per connection.
    max_streams: int = 1024
    max_incoming_per_sec: int = 5
    # Frames queued for one slow client before it is cut off.
    max_queued_frames: int = 10_000
    symbols_ttl: float = 10.0

    def with_(self, **changes: object) -> ApiConfig:
        """A copy with some settings changed."""
        return replace(self, **changes)

    def check(self) -> None:
        """Refuse an exposed bind without tokens."""
        if not is_loopback(self.host) and not self.tokens:
            raise ValueError(
                f"API_HOST={self.host} is not loopback: set API_TOKENS (space- or "
                "comma-separated) so only clients with a token can read"
            )


def load_config() -> ApiConfig:
    """Settings from API_* variables; the database is API_DATABASE_URL, else DATABASE_URL's
    server and database as analytics_reader (API_DATABASE_PASSWORD, else DATA_DIR's file)."""
    from include.platform import db

    url = db.resolve_role_url(db.READER)
    tokens = frozenset(t for t in os.environ.get("API_TOKENS", "").replace(",", " ").split() if t)
    config = ApiConfig(
        database_url=url,
        host=os.environ.get("API_HOST", "") or "127.0.0.1",
        port=_int("API_PORT", 8000),
        grpc_port=_int("API_GRPC_PORT", 8001),
        tokens=tokens,
        pool_size=_int("API_POOL_SIZE", 4),
    )
    config.check()
    return config
