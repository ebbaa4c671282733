"""One symbol resolver for every entry point: explicit symbols, SYMBOLS, or ALL = TRADING."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

# Shard and parse_shard are the settings' (STREAMER_SHARD); re-exported for the streamer.
from include.platform.markets import SPOT, Market
from include.platform.settings import Shard, get_settings, parse_symbols
from include.platform.settings import parse_shard as parse_shard


def trading_symbols(exchange_info: dict[str, Any]) -> list[str]:
    """Every symbol exchangeInfo lists in TRADING status, sorted."""
    return sorted(
        s["symbol"]
        for s in exchange_info.get("symbols", [])
        # COIN-M names the status contractStatus.
        if isinstance(s, dict)
        and s.get("status", s.get("contractStatus")) == "TRADING"
        and "symbol" in s
    )


def requested_symbols(
    symbols: Iterable[str] | None, market: Market = SPOT
) -> tuple[str, ...] | None:
    """The symbols asked for (a list, or the market's SYMBOLS, USDM_SYMBOLS or COINM_SYMBOLS
    when empty), upper-cased; None means ALL."""
    given = [s for s in symbols or () if s and s.strip()]
    if not given:
        return getattr(get_settings(), market.symbols_setting)
    return parse_symbols(" ".join(given), "SYMBOLS" if market is SPOT else "symbol")


def resolve_symbols(
    symbols: Sequence[str] | None = None,
    *,
    exchange_info: dict[str, Any] | None = None,
    rest_url: str | None = None,
    market: Market = SPOT,
) -> list[str]:
    """The concrete symbols a job works on: ALL becomes every TRADING symbol of exchangeInfo.

    exchange_info is used when the caller already holds it; otherwise ALL asks REST once.
    """
    wanted = requested_symbols(symbols, market)
    if wanted is not None:
        return list(wanted)
    if exchange_info is None:
        from include.platform.binance_rest.client import JOB_EXCHANGE_INFO_AGE_S, BinanceRest

        with BinanceRest(rest_url, database_url=_loader_url(), market=market) as client:
            exchange_info = client.exchange_info(max_age_s=JOB_EXCHANGE_INFO_AGE_S)
    return trading_symbols(exchange_info)


def _loader_url() -> str | None:
    """history_loader's database URL for the shared weight budget, when the platform's database
    is configured or running; None (the request paces alone) rather than starting one."""
    from include.platform import db

    try:
        return db.resolve_role_url(db.LOADER, start=False)
    except Exception:  # no database to share the budget through: it paces alone
        return None


def shard_index(symbol: str, count: int) -> int:
    """The shard a symbol belongs to: a hash of its name that never changes between processes,
    hosts or Python versions, so a symbol listed later lands on exactly one shard too."""
    digest = hashlib.blake2b(symbol.upper().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def in_shard(symbols: Iterable[str], shard: Shard | None) -> list[str]:
    """The symbols this shard streams (all of them without a shard)."""
    if shard is None:
        return list(symbols)
    return [s for s in symbols if shard_index(s, shard.count) == shard.index]
