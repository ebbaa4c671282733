"""Shared fixtures for the fake exchange tests: a small market and a running server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import aiohttp
import pytest
import pytest_asyncio

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig
from fakebinance.market import Market
from fakebinance.server import FakeBinance
from tests.support.fakebinance import HALT, NEW_LISTING, NOW, build_config

logger = logging.getLogger(__name__)


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
