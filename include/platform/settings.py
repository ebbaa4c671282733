"""The platform's configuration: one pydantic-settings model, read from the environment and .env.

Every variable the platform's code reads is a field of ``Settings`` (its name upper-cased, or
its ``validation_alias``): DESIGN.md's, the streamer's STREAMER_*, the API's API_*, the database
roles' and the rest; only ENV_FILE, which says where .env is, and the variables of libraries and
tools (PGPASSWORD, DBT_TARGET_PATH, AIRFLOW__*) are read elsewhere. The entry points' --help
tables are generated from the fields, so a variable, its default and its meaning are written
down once.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from include.platform.setting_values import (
    Shard,
    parse_duration,
    parse_markets,
    parse_second_symbols,
    parse_shard,
    parse_symbols,
)

T = TypeVar("T")

# The checkout: the folder holding the include package, wherever this module sits inside it.
PROJECT_ROOT = Path(__file__).resolve().parents[len(__name__.split(".")) - 1]

DEFAULT_SYMBOLS = "BTCUSDT ETHUSDT PEPEUSDT"
DEFAULT_USDM_SYMBOLS = "BTCUSDT ETHUSDT"
DEFAULT_COINM_SYMBOLS = "BTCUSD_PERP ETHUSD_PERP"
# A live month is a copy once every minute of it has its official kline (the kline wins in the
# 1m mart): a week after its end, it is dropped (docs/architecture.md, Storage).
DEFAULT_LIVE_RETENTION_DAYS = 7
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Binance allows 1024 streams per connection.
MAX_STREAMS_PER_CONNECTION = 1024
# DESIGN.md's variables, which every entry point's --help lists first.
DESIGN_VARIABLES = (
    "DATABASE_URL",
    "SYMBOLS",
    "BINANCE_WS_URL",
    "BINANCE_REST_URL",
    "BINANCE_DATA_URL",
    "DATA_DIR",
    "EMBEDDED_PG_PORT",
)


def _var(default: Any, meaning: str, shown: str | None = None, **kwargs: Any) -> Any:
    """A field with its --help line: what it means and, when the default is not literal, how
    the default reads there."""
    extra = {"shown": shown} if shown is not None else None
    return Field(default, description=meaning, json_schema_extra=extra, **kwargs)


class Settings(BaseSettings):
    """Every environment variable of the platform; the environment wins over the .env file.

    Build it with get_settings(), which points it at the .env file and turns a bad value into
    one line; Settings(...) alone (tests, the soak harness) reads the environment only.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # --- DESIGN.md -----------------------------------------------------------------------------
    database_url: str | None = _var(
        None, "where all tables live", shown="embedded PostgreSQL under DATA_DIR/pg"
    )
    # A plain string, parsed by parse_symbols: it is space- or comma-separated, not JSON.
    symbols_raw: str = _var(
        DEFAULT_SYMBOLS,
        "space- or comma-separated; ALL = every TRADING symbol",
        validation_alias="SYMBOLS",
    )
    binance_ws_url: str = _var("wss://stream.binance.com:9443", "WebSocket base")
    binance_rest_url: str = _var("https://api.binance.com", "REST base")
    binance_data_url: str = _var("https://data.binance.vision", "CSV dump base")
    data_dir: Path = _var(PROJECT_ROOT / ".data", "embedded server data, logs", shown="./.data")
    embedded_pg_port: int = _var(54329, "port of the embedded server (127.0.0.1 only)")

    # --- DESIGN.md "Futures markets" (include/platform/markets.py) ---------------------------
    markets_raw: str = _var(
        "spot",
        "the markets the platform runs: spot, usdm, coinm (space- or comma-separated)",
        validation_alias="MARKETS",
    )
    usdm_symbols_raw: str = _var(
        DEFAULT_USDM_SYMBOLS,
        "USDⓈ-M futures symbols, as SYMBOLS (ALL = every TRADING contract)",
        validation_alias="USDM_SYMBOLS",
    )
    coinm_symbols_raw: str = _var(
        DEFAULT_COINM_SYMBOLS,
        "COIN-M futures symbols, as SYMBOLS (ALL = every TRADING contract)",
        validation_alias="COINM_SYMBOLS",
    )
    binance_usdm_rest_url: str = _var("https://fapi.binance.com", "USDⓈ-M futures REST base")
    binance_usdm_ws_url: str = _var("wss://fstream.binance.com", "USDⓈ-M futures WebSocket base")
    binance_coinm_rest_url: str = _var("https://dapi.binance.com", "COIN-M futures REST base")
    binance_coinm_ws_url: str = _var("wss://dstream.binance.com", "COIN-M futures WebSocket base")

    # Plain strings, parsed by the properties below (space- or comma-separated; 2d, 36h, 90m).
    second_candle_symbols_raw: str = _var(
        "",
        "symbols that also get 1s candles from the streamer",
        validation_alias="SECOND_CANDLE_SYMBOLS",
    )
    second_candle_retention_raw: str = _var(
        "2d", "how long 1s candles are kept", validation_alias="SECOND_CANDLE_RETENTION"
    )

    # --- platform-wide --------------------------------------------------------------------------
    live_retention_days: int | None = _var(
        DEFAULT_LIVE_RETENTION_DAYS,
        "at start, drop live months ended longer ago whose every minute has its kline (0: keep "
        "all)",
    )
    # Where failed DAG runs are announced (Slack-style incoming webhook); unset = no alerts.
    alert_webhook_url: str | None = _var(None, "where a failed DAG task is posted")
    airflow_admin_user: str = _var("admin", "Airflow's simple-auth user")
    airflow_admin_password: SecretStr | None = _var(None, "Airflow's simple-auth password")

    # --- database roles (include/platform/db.py ROLES): a whole URL wins over a password ------
    streamer_database_url: SecretStr | None = _var(
        None, "the URL the streamer writes as", shown="DATABASE_URL's as streamer_writer"
    )
    streamer_database_password: SecretStr | None = _var(
        None, "streamer_writer's password", shown="DATA_DIR/secrets/streamer_writer.password"
    )
    loader_database_url: SecretStr | None = _var(
        None, "the URL the loaders write as", shown="DATABASE_URL's as history_loader"
    )
    loader_database_password: SecretStr | None = _var(
        None, "history_loader's password", shown="DATA_DIR/secrets/history_loader.password"
    )
    dbt_database_url: SecretStr | None = _var(
        None, "the URL dbt builds as", shown="DATABASE_URL's as dbt_builder"
    )
    dbt_database_password: SecretStr | None = _var(
        None, "dbt_builder's password", shown="DATA_DIR/secrets/dbt_builder.password"
    )
    api_database_url: SecretStr | None = _var(
        None, "the URL (and role) the API reads as", shown="DATABASE_URL's as analytics_reader"
    )
    api_database_password: SecretStr | None = _var(
        None, "analytics_reader's password", shown="DATA_DIR/secrets/analytics_reader.password"
    )
    airflow_database_password: SecretStr | None = _var(
        None,
        "the password of Airflow's metadata role (airflow), when its database is made here",
        shown="DATA_DIR/secrets/airflow.password",
    )
    # role=value pairs over include/platform/role_limits.py's defaults (docs/configuration.md).
    database_role_statement_timeout: str = _var(
        "", "role=duration pairs: a role's statement_timeout (e.g. dbt_builder=12h)"
    )
    database_role_idle_timeout: str = _var(
        "", "role=duration pairs: a role's idle_in_transaction_session_timeout"
    )
    database_role_connection_limit: str = _var(
        "", "role=count pairs: a role's CONNECTION LIMIT (e.g. analytics_reader=200)"
    )

    # --- the streamer (python -m streamer; streamer/README.md says more) ------------------------
    streamer_migrate: bool = _var(True, "migrate as DATABASE_URL's administrator before starting")
    streamer_stream: str = _var("trade", "trade or aggTrade")
    streamer_flush_interval: float = _var(0.025, "seconds between writes of the forming candles")
    streamer_max_batch_rows: int = _var(5000, "rows per transaction")
    streamer_close_grace: float = _var(
        2.0, "seconds after a minute ends before a quiet symbol is probed"
    )
    streamer_clock_sync_interval: float = _var(
        60.0, "seconds between measurements of Binance's clock"
    )
    streamer_health_host: str = _var("127.0.0.1", "address of /healthz and /metrics")
    # None: 8795, plus k under STREAMER_SHARD=k/n (shards on one host each get their own port).
    streamer_health_port: int | None = _var(
        None, "port of /healthz and /metrics", shown="8795 (+ k with STREAMER_SHARD)"
    )
    streamer_streams_per_connection: int = _var(
        MAX_STREAMS_PER_CONNECTION, "streams per WebSocket connection"
    )
    streamer_backoff_initial: float = _var(0.5, "first reconnect delay, seconds")
    streamer_backoff_max: float = _var(30.0, "longest reconnect delay, seconds")
    streamer_silence_timeout: float = _var(10.0, "drop a socket silent this many seconds")
    streamer_rotate_after: float = _var(
        23.5 * 3600, "replace a connection before Binance's 24 h cut"
    )
    streamer_symbols_refresh: float = _var(60.0, "seconds between exchangeInfo reads (listings)")
    streamer_repair_max_trades: int = _var(100_000, "larger gaps are left to heal-gaps")
    streamer_repair_deadline: float = _var(300.0, "seconds a gap repair keeps retrying")
    streamer_startup_repair: bool = _var(True, "fetch each symbol's first minute from REST")
    streamer_loop: str = _var("auto", "auto (uvloop when importable), uvloop or asyncio")
    streamer_shard: Annotated[Shard | None, NoDecode] = _var(
        None, "k/n: stream only the symbols that hash to shard k of n"
    )
    streamer_log_level: str = _var("INFO", "log level (JSON lines on stderr)")

    # --- the read API (python -m api; api/README.md says more) ----------------------------------
    api_host: str = _var("127.0.0.1", "bind address of HTTP, WebSocket and gRPC")
    api_port: int = _var(8000, "HTTP and WebSocket port")
    api_grpc_port: int = _var(8001, "gRPC port")
    # A plain string: space- or comma-separated, not JSON (see api_token_set).
    api_tokens: SecretStr = _var(
        SecretStr(""), "space- or comma-separated; required when API_HOST is not loopback"
    )
    api_pool_size: int = _var(4, "database connections for queries, per pool (klines, the rest)")
    api_weight_limit: int = _var(
        6000, "request weight per client IP per minute, as Binance's REQUEST_WEIGHT (0: none)"
    )
    api_max_connections: int = _var(
        10_000, "HTTP requests in flight and WebSockets open at once (0: no cap)"
    )
    api_max_connections_per_address: int = _var(
        300, "HTTP requests in flight and WebSockets open at once from one client IP (0: no cap)"
    )
    api_ws_connections_per_5m: int = _var(
        300, "WebSocket handshakes one client IP may make in 5 minutes, as Binance's (0: no cap)"
    )
    api_grpc_max_rpcs: int = _var(100, "gRPC calls in progress at once, Subscribe streams included")
    api_trusted_proxies: str = _var(
        "",
        "addresses of the reverse proxies whose X-Forwarded-For/-Proto are believed, space- or "
        "comma-separated (empty: none, the client is the TCP peer)",
    )
    api_allowed_hosts: str = _var(
        "",
        "host names (Host header) the API answers besides localhost, 127.0.0.1, [::1] and "
        "API_HOST, space- or comma-separated (* for any)",
    )
    api_statement_timeout: float = _var(10.0, "seconds one query of the API may run")
    api_cors_origins: str = _var(
        "", "origins allowed to call the API from a browser, space- or comma-separated"
    )
    api_tls_cert: Path | None = _var(
        None, "PEM certificate (chain): serve HTTPS, WSS and gRPC over TLS (with API_TLS_KEY)"
    )
    api_tls_key: Path | None = _var(None, "PEM private key of API_TLS_CERT")
    api_allow_plaintext: bool = _var(
        False, "serve plain HTTP beyond loopback without API_TLS_CERT (tokens travel readable)"
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, values: Any) -> Any:
        # `STREAMER_FLUSH_INTERVAL=` (as .env.example's blank lines leave it) means the default;
        # an empty DESIGN.md variable keeps its own meaning or error (SYMBOLS= is an error).
        if not isinstance(values, dict):
            return values
        return {
            key: value
            for key, value in values.items()
            if key.upper() in DESIGN_VARIABLES
            or key == "symbols_raw"
            or not isinstance(value, str)
            or value.strip()
        }

    @field_validator("live_retention_days", mode="before")
    @classmethod
    def _retention_days(cls, value: object) -> object:
        if value is None:
            return None
        try:
            days = int(str(value).strip())
        except ValueError:
            raise ValueError(
                f"LIVE_RETENTION_DAYS must be a whole number of days, not {value!r}"
            ) from None
        if days < 0:
            raise ValueError(f"LIVE_RETENTION_DAYS must not be negative, not {days}")
        # 0 keeps everything.
        return days or None

    @field_validator("markets_raw")
    @classmethod
    def _markets(cls, value: str) -> str:
        parse_markets(value)
        return value

    @field_validator("usdm_symbols_raw", "coinm_symbols_raw")
    @classmethod
    def _futures_symbols(cls, value: str, info: Any) -> str:
        parse_symbols(value, f"{info.field_name.removesuffix('_symbols_raw').upper()}_SYMBOLS")
        return value

    @field_validator("second_candle_symbols_raw")
    @classmethod
    def _second_symbols(cls, value: str) -> str:
        parse_second_symbols(value)  # a bad name fails at start, in one line
        return value

    @field_validator("second_candle_retention_raw")
    @classmethod
    def _second_retention(cls, value: str) -> str:
        parse_duration(value, "SECOND_CANDLE_RETENTION")
        return value

    @field_validator("streamer_shard", mode="before")
    @classmethod
    def _shard(cls, value: object) -> object:
        return parse_shard(value) if isinstance(value, str) else value

    @field_validator("streamer_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"STREAMER_LOG_LEVEL: {value!r} is not one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("streamer_loop", mode="before")
    @classmethod
    def _loop(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @cached_property
    def symbols(self) -> tuple[str, ...] | None:
        """The configured symbols, upper-cased; None means ALL trading symbols."""
        return parse_symbols(self.symbols_raw)

    @cached_property
    def markets(self) -> tuple[str, ...]:
        """MARKETS: the markets the platform runs, in MARKET_NAMES' order."""
        return parse_markets(self.markets_raw)

    @cached_property
    def usdm_symbols(self) -> tuple[str, ...] | None:
        """USDM_SYMBOLS, upper-cased; None means ALL trading contracts."""
        return parse_symbols(self.usdm_symbols_raw, "USDM_SYMBOLS")

    @cached_property
    def coinm_symbols(self) -> tuple[str, ...] | None:
        """COINM_SYMBOLS, upper-cased; None means ALL trading contracts."""
        return parse_symbols(self.coinm_symbols_raw, "COINM_SYMBOLS")

    @cached_property
    def second_candle_symbols(self) -> frozenset[str]:
        """SECOND_CANDLE_SYMBOLS, upper-cased (empty: no symbol gets 1s candles)."""
        return parse_second_symbols(self.second_candle_symbols_raw)

    @cached_property
    def second_candle_retention(self) -> float:
        """SECOND_CANDLE_RETENTION in seconds."""
        return parse_duration(self.second_candle_retention_raw, "SECOND_CANDLE_RETENTION")

    @cached_property
    def api_token_set(self) -> frozenset[str]:
        """API_TOKENS as a set (space- or comma-separated)."""
        return frozenset(self.api_tokens.get_secret_value().replace(",", " ").split())

    @property
    def api_cors_origin_set(self) -> frozenset[str]:
        """API_CORS_ORIGINS as a set of origins (``*`` for any), without trailing slashes."""
        return frozenset(o.rstrip("/") for o in self.api_cors_origins.replace(",", " ").split())

    @property
    def api_trusted_proxy_set(self) -> frozenset[str]:
        """API_TRUSTED_PROXIES as a set of addresses (or networks)."""
        return frozenset(self.api_trusted_proxies.replace(",", " ").split())

    @property
    def api_allowed_host_set(self) -> frozenset[str]:
        """API_ALLOWED_HOSTS as a set of lower-case host names (``*`` for any)."""
        return frozenset(h.lower() for h in self.api_allowed_hosts.replace(",", " ").split())

    def secret(self, name: str) -> str | None:
        """A secret field's value by its variable's name (e.g. STREAMER_DATABASE_PASSWORD);
        None when unset or empty."""
        value = getattr(self, name.lower())
        return (value.get_secret_value() if value is not None else "") or None


def setting(field: str) -> Any:
    """A field of a part's frozen config (StreamerConfig, ApiConfig) that takes the model's
    ``field``: its default here, its value in from_settings."""
    return dataclasses.field(
        default=Settings.model_fields[field].default, metadata={"setting": field}
    )


def from_settings(cls: type[T], settings: Settings, **given: Any) -> T:
    """The dataclass cls built from settings: each setting() field from its model field, the
    rest from ``given``."""
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        if "setting" in item.metadata and item.name not in given:
            given[item.name] = getattr(settings, item.metadata["setting"])
    return cls(**given)


# Variable name -> field: the field's name upper-cased, or its alias (SYMBOLS).
FIELDS = {
    str(info.validation_alias or field).upper(): field
    for field, info in Settings.model_fields.items()
}


def variables(prefix: str) -> tuple[str, ...]:
    """The variables whose names start with prefix, in the model's order."""
    return tuple(name for name in FIELDS if name.startswith(prefix))


def default_text(name: str) -> str:
    """A variable's default as --help and the READMEs write it."""
    info = Settings.model_fields[FIELDS[name]]
    shown = (info.json_schema_extra or {}).get("shown")  # type: ignore[union-attr]
    if shown is not None:
        return str(shown)
    default = info.default
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    if default is None or default == "":
        return ""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def env_file() -> Path:
    """The .env file every entry point reads: ENV_FILE, else .env at the project root.

    ENV_FILE itself is the one variable read outside the model: it says where the model reads.
    """
    return Path(os.environ.get("ENV_FILE") or PROJECT_ROOT / ".env")


def parse_command_line(
    prog: str, description: str, names: tuple[str, ...], argv: list[str] | None
) -> None:
    """A service's command line: no options but --help, whose epilog lists the variables it
    reads (generated from the model) and where .env is read from."""
    width = max(len(name) for name in (*names, "ENV_FILE"))
    lines = ["environment (the environment wins over the .env file):"]
    for name in names:
        meaning = Settings.model_fields[FIELDS[name]].description
        lines.append(f"  {name:<{width}}  {meaning} (default: {default_text(name) or 'unset'})")
    lines.append(f"  {'ENV_FILE':<{width}}  the .env file read at start (default: {env_file()})")
    argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args(argv)


def first_line(exc: BaseException) -> str:
    """An error as the one line an entry point prints: its message's first line, else its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# A type error's kind (int_parsing, float_type, int_from_float...) -> what is wrong.
_TYPE_ERRORS = {"float": "is not a number", "int": "is not an integer", "bool": "is not a boolean"}


def one_line(exc: ValidationError) -> str:
    """A validation error as the one line a user reads: the variable, its value, what is wrong."""
    error = exc.errors()[0]
    # loc holds the field's name, or its alias (SYMBOLS): upper-cased, the variable's name.
    name = str(error["loc"][0]).upper() if error["loc"] else "SETTINGS"
    kind, _, problem = error["type"].partition("_")
    if kind in _TYPE_ERRORS and problem in ("parsing", "type", "from_float"):
        return f"{name}: {error['input']!r} {_TYPE_ERRORS[kind]}"
    if error["type"] == "value_error":
        # Our validators' messages name the variable already.
        return str(error["ctx"]["error"])
    return f"{name}: {error['msg']}"


def get_settings() -> Settings:
    """Read the settings: the environment, then the .env file (ENV_FILE), then the defaults.

    An invalid value is a ValueError of one line that names the variable.
    """
    path = env_file()
    try:
        return Settings(_env_file=path if path.is_file() else None)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ValueError(one_line(exc)) from None
    except SettingsError as exc:
        raise ValueError(f"{path}: {exc}") from None
