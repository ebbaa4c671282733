"""The values of the settings that are more than a string or a number, parsed: symbols, markets,
durations and shards, each with the one-line error that names its variable."""

from __future__ import annotations

import re
from typing import NamedTuple

MARKET_NAMES = ("spot", "usdm", "coinm")


class Shard(NamedTuple):
    """Process ``index`` of ``count`` (0 <= index < count): STREAMER_SHARD=index/count."""

    index: int
    count: int


def parse_shard(text: str | None) -> Shard | None:
    """'k/n' -> Shard(k, n), with 0 <= k < n; empty -> None (one process streams everything)."""
    if not text or not text.strip():
        return None
    index, slash, count = text.strip().partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        shard = None
    if not slash or shard is None or not 0 <= shard.index < shard.count:
        raise ValueError(f"STREAMER_SHARD: {text!r} is not k/n with 0 <= k < n (e.g. 0/3)")
    return shard


def parse_symbols(raw: str, name: str = "SYMBOLS") -> tuple[str, ...] | None:
    """Parse SYMBOLS ('BTCUSDT ETHUSDT', 'btcusdt,ethusdt' or 'ALL'), or a futures market's
    (``name``: COIN-M's contracts carry an underscore, BTCUSD_PERP, BTCUSD_261225)."""
    parts = [p for p in re.split(r"[\s,]+", raw.strip().upper()) if p]
    if not parts:
        raise ValueError(f"{name} is empty: give symbols separated by spaces or commas, or ALL")
    if parts == ["ALL"]:
        return None
    # Only futures names carry an underscore (COIN-M's BTCUSD_PERP, a quarter's BTCUSDT_261225).
    pattern = r"[A-Z0-9]{2,30}" if name == "SYMBOLS" else r"[A-Z0-9]{2,30}(_[A-Z0-9]{1,10})?"
    for part in parts:
        if not re.fullmatch(pattern, part):
            raise ValueError(f"{name}: {part!r} is not a Binance symbol")
    return tuple(dict.fromkeys(parts))


def parse_markets(raw: str) -> tuple[str, ...]:
    """Parse MARKETS ('spot usdm', 'spot,coinm'): known names, in MARKET_NAMES' order."""
    parts = [p for p in re.split(r"[\s,]+", raw.strip().lower()) if p]
    if not parts:
        raise ValueError(f"MARKETS is empty: give any of {', '.join(MARKET_NAMES)}")
    for part in parts:
        if part not in MARKET_NAMES:
            raise ValueError(f"MARKETS: {part!r} is not one of {', '.join(MARKET_NAMES)}")
    return tuple(m for m in MARKET_NAMES if m in parts)


def parse_second_symbols(raw: str) -> frozenset[str]:
    """Parse SECOND_CANDLE_SYMBOLS: symbols as SYMBOLS takes them, empty for none; ALL is
    refused (a symbol's seconds are 86,400 rows a day: name them)."""
    parts = [p for p in re.split(r"[\s,]+", raw.strip().upper()) if p]
    for part in parts:
        if part == "ALL" or not re.fullmatch(r"[A-Z0-9]{2,30}", part):
            raise ValueError(f"SECOND_CANDLE_SYMBOLS: {part!r} is not a Binance symbol")
    return frozenset(parts)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: str, name: str) -> float:
    """A duration such as ``2d``, ``36h``, ``90m`` or ``600s`` (a bare number is seconds)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*", raw.lower())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{name}: {raw!r} is not a positive duration such as 2d, 36h or 90m")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]
