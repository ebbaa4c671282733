"""The dbt tests' fixtures, for every test directory that builds the marts (tests/dbt's conftest
and the build_timeframes DAG's tests import them): the fake exchange's frozen market and its
official klines, and dbt's files in a temporary directory."""

from __future__ import annotations

import pytest

from fakebinance.market import Market
from fakebinance.reference import RefKline
from tests.support.dbt import frozen_market, window_official


@pytest.fixture(scope="session")
def market() -> Market:
    """A frozen fake market: two busy symbols and a quiet one with a halt inside the window
    (held for the session: official() caches by its id)."""
    return frozen_market()


@pytest.fixture(scope="session")
def window_klines(market: Market) -> dict[str, list[RefKline]]:
    """Every symbol's official 1m klines over the two-week window (cached for the session)."""
    return window_official(market)


@pytest.fixture(autouse=True)
def dbt_target_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """dbt's compiled files and logs go to a temporary directory, not dbt_project/target."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt_target")))
