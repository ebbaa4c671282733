"""Shared fixtures for the fake exchange tests: a small market and a running server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from decimal import Decimal

import aiohttp
import pytest
import pytest_asyncio

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, SymbolSpec, default_symbols, quiet_symbol, utc
from fakebinance.market import Market
from fakebinance.server import FakeBinance

logger = logging.getLogger(__name__)

# A Wednesday after 2025-01-01 (so dumps of the days before carry µs timestamps).
NOW = utc(2025, 3, 12, 12, 0, 30)
# Minutes 10:00 .. 10:04 of 2025-03-11 are dark (the halt starts inside minute 10:00).
HALT = (utc(2025, 3, 11, 10, 0, 30), utc(2025, 3, 11, 10, 5))
NEW_LISTING = utc(2025, 3, 12, 11, 30, 20)


def build_config(seed: int = 42) -> MarketConfig:
    """Default symbols plus QUIETUSDT, HALTUSDT (halted) and NEWUSDT (listed just before NOW)."""
    halted = SymbolSpec("HALTUSDT", Decimal("12.5"), 3, 3, 8.0, utc(2025, 3, 1), halts=(HALT,))
    late = SymbolSpec("NEWUSDT", Decimal("2.5"), 4, 1, 10.0, NEW_LISTING)
    return MarketConfig(seed, (*default_symbols(), quiet_symbol(), halted, late))


@pytest.fixture
def now() -> datetime:
    """The market time the frozen clock shows."""
    return NOW


@pytest.fixture
def halt() -> tuple[datetime, datetime]:
    """HALTUSDT's halt window."""
    return HALT


@pytest.fixture
def new_listing() -> datetime:
    """NEWUSDT's listing time."""
    return NEW_LISTING


@pytest.fixture
def config() -> MarketConfig:
    """The test market (seed 42)."""
    return build_config()


@pytest.fixture
def config_factory() -> Callable[[int], MarketConfig]:
    """Builds the test market for any seed."""
    return build_config


@pytest.fixture
def frozen_clock() -> MarketClock:
    """A market clock frozen at NOW (tests move it explicitly)."""
    return MarketClock(start=NOW, speed=0)


@pytest.fixture
def market(config: MarketConfig, frozen_clock: MarketClock) -> Market:
    """The test market on the frozen clock."""
    return Market(config, frozen_clock)


@pytest_asyncio.fixture
async def fake(config: MarketConfig, frozen_clock: MarketClock) -> AsyncIterator[FakeBinance]:
    """A running fake on the frozen clock with default limits."""
    async with FakeBinance(config, clock=frozen_clock) as server:
        yield server


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session."""
    async with aiohttp.ClientSession() as s:
        yield s
