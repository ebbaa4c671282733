"""Shared pieces of the history tests: the fake market, a running fake exchange, row readers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import psycopg

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, SymbolSpec, default_symbols, quiet_symbol, utc
from fakebinance.futures import SEED_OFFSET, coin_contracts, default_contracts
from fakebinance.market import Market
from fakebinance.reference import oracle_klines
from fakebinance.server import FakeBinance, ThreadedFakeBinance

# The market clock stands still here; days before it are published as dumps.
NOW = utc(2025, 3, 12, 12, 0, 30)
HALT = (utc(2025, 3, 11, 10, 0, 30), utc(2025, 3, 11, 10, 5))


def market_config() -> MarketConfig:
    """BTC/ETH/PEPE, a quiet symbol and one with a five-minute halt."""
    halted = SymbolSpec("HALTUSDT", Decimal("12.5"), 3, 3, 8.0, utc(2025, 3, 1), halts=(HALT,))
    return MarketConfig(42, (*default_symbols(), quiet_symbol(), halted))


def usdm_config() -> MarketConfig:
    """The fake's USDⓈ-M perpetuals (BTCUSDT, ETHUSDT), from their own seed."""
    return MarketConfig(market_config().seed + SEED_OFFSET, default_contracts())


def coinm_config() -> MarketConfig:
    """The fake's COIN-M perpetuals (BTCUSD_PERP, ETHUSD_PERP), seeded apart from USDⓈ-M's."""
    return MarketConfig(market_config().seed + 2 * SEED_OFFSET, coin_contracts())


def frozen_clock() -> MarketClock:
    """A market clock stopped at NOW."""
    return MarketClock(NOW, speed=0)


@contextmanager
def running_fake(**kwargs: object) -> Iterator[ThreadedFakeBinance]:
    """The fake exchange on a free port, stopped afterwards."""
    fake = FakeBinance.run_in_thread(market_config(), clock=frozen_clock(), **kwargs)
    try:
        yield fake
    finally:
        fake.stop()


@contextmanager
def running_usdm_fake(**kwargs: object) -> Iterator[ThreadedFakeBinance]:
    """The fake exchange with its USDⓈ-M perpetuals beside spot, and no exchangeInfo or learned
    weight limits this process kept from another test's fake (before and after)."""
    from include.platform.binance_rest import client as rest_client

    rest_client._EXCHANGE_INFO.clear()
    rest_client._LIMITS.clear()
    try:
        kwargs.setdefault("usdm_config", usdm_config())
        with running_fake(**kwargs) as fake:
            yield fake
    finally:
        rest_client._EXCHANGE_INFO.clear()
        rest_client._LIMITS.clear()


def official(market: Market, symbol: str, start_ms: int, end_ms: int) -> list[tuple]:
    """Binance's closed 1m klines of [start, end) from the independent Decimal oracle."""
    return [k.fields() for k in oracle_klines(market, symbol, start_ms, end_ms, closed_only=True)]


def stored(conn: psycopg.Connection, symbol: str, start_ms: int, end_ms: int) -> list[tuple]:
    """market.klines_1m rows of [start, end) in the same tuple shape."""
    rows = conn.execute(
        "select (extract(epoch from open_time) * 1000)::bigint, open, high, low, close, volume, "
        "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume "
        "from market.klines_1m where symbol = %s and open_time >= to_timestamp(%s / 1000.0) "
        "and open_time < to_timestamp(%s / 1000.0) order by open_time",
        (symbol, start_ms, end_ms),
    ).fetchall()
    return [tuple(r) for r in rows]


def snapshot(conn: psycopg.Connection) -> list[tuple]:
    """Every klines_1m row with its loaded_at, to prove a rerun changed nothing."""
    return conn.execute("select * from market.klines_1m order by symbol, open_time").fetchall()
