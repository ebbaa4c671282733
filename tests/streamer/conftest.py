"""Fixtures for the streamer: an in-process fake exchange on a fast market clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fakebinance.server import FakeBinance
from tests.support.streamer import fast_fake


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    """A fake Binance in this event loop, its market clock 20x faster than the wall."""
    async with fast_fake() as server:
        yield server
