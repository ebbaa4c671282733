"""Fixtures for the history tests: the fake exchange they read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakebinance.server import ThreadedFakeBinance
from tests.include.history_support import running_fake


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFakeBinance]:
    """The fake exchange with Binance's own limits, one a module: REST, the dumps and
    exchangeInfo's symbol list; HALTUSDT stops trading for five minutes on 2025-03-11."""
    with running_fake() as server:
        yield server
