"""The platform's configuration, read from the environment in one place."""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The checkout: the folder holding the include package, wherever this module sits inside it.
PROJECT_ROOT = Path(__file__).resolve().parents[len(__name__.split(".")) - 1]

DEFAULT_SYMBOLS = "BTCUSDT ETHUSDT PEPEUSDT"


class Settings(BaseSettings):
    """Environment variables of DESIGN.md, plus the embedded server's knobs."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    database_url: str | None = None
    # A plain string, parsed by parse_symbols: it is space- or comma-separated, not JSON.
    symbols_raw: str = Field(DEFAULT_SYMBOLS, validation_alias="SYMBOLS")
    binance_ws_url: str = "wss://stream.binance.com:9443"
    binance_rest_url: str = "https://api.binance.com"
    binance_data_url: str = "https://data.binance.vision"
    data_dir: Path = PROJECT_ROOT / ".data"
    embedded_pg_port: int = 54329
    app_database: str = "binance"
    # Where failed DAG runs are announced (Slack-style incoming webhook); unset = no alerts.
    alert_webhook_url: str | None = None

    @cached_property
    def symbols(self) -> tuple[str, ...] | None:
        """The configured symbols, upper-cased; None means ALL trading symbols."""
        return parse_symbols(self.symbols_raw)


def parse_symbols(raw: str) -> tuple[str, ...] | None:
    """Parse SYMBOLS ('BTCUSDT ETHUSDT', 'btcusdt,ethusdt' or 'ALL')."""
    parts = [p for p in re.split(r"[\s,]+", raw.strip().upper()) if p]
    if not parts:
        raise ValueError("SYMBOLS is empty: give symbols separated by spaces or commas, or ALL")
    if parts == ["ALL"]:
        return None
    for part in parts:
        if not re.fullmatch(r"[A-Z0-9]{2,30}", part):
            raise ValueError(f"SYMBOLS: {part!r} is not a Binance symbol")
    return tuple(dict.fromkeys(parts))


def env_file() -> Path:
    """The .env file every entry point reads: ENV_FILE, or .env at the project root."""
    return Path(os.environ.get("ENV_FILE") or PROJECT_ROOT / ".env")


def load_env_file() -> Path | None:
    """Export the .env file's variables that the environment does not already set.

    Every entry point calls it first, so `python -m streamer` or the CLI started by hand sees
    the same configuration as `make run` (which sources .env in the shell). Returns the file
    read, or None when there is none.
    """
    from dotenv import load_dotenv

    path = env_file()
    if not path.is_file():
        return None
    load_dotenv(path, override=False)
    return path


# DESIGN.md's variables, as every entry point's --help lists them: (name, default, meaning).
COMMON_ENVIRONMENT = (
    ("DATABASE_URL", "embedded PostgreSQL under DATA_DIR/pg", "where all tables live"),
    ("SYMBOLS", DEFAULT_SYMBOLS, "space- or comma-separated; ALL = every TRADING symbol"),
    ("BINANCE_WS_URL", "wss://stream.binance.com:9443", "WebSocket base"),
    ("BINANCE_REST_URL", "https://api.binance.com", "REST base"),
    ("BINANCE_DATA_URL", "https://data.binance.vision", "CSV dump base"),
    ("DATA_DIR", "./.data", "embedded server data, logs"),
    ("EMBEDDED_PG_PORT", "54329", "port of the embedded server (127.0.0.1 only)"),
)


def environment_help(rows: tuple[tuple[str, str, str], ...]) -> str:
    """An entry point's --help epilog: its variables, and where .env is read from."""
    width = max(len(name) for name, _, _ in rows)
    lines = ["environment (the environment wins over the .env file):"]
    for name, default, meaning in rows:
        lines.append(f"  {name:<{width}}  {meaning} (default: {default or 'unset'})")
    lines.append(f"  {'ENV_FILE':<{width}}  the .env file read at start (default: {env_file()})")
    return "\n".join(lines)


def get_settings() -> Settings:
    """Read the settings from the current environment."""
    return Settings()
