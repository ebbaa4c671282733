"""Fixtures for the API: the service on a free port in the test's loop, over a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from api.config import ApiConfig, load_config
from tests.support.api import RunningApi, running_api


@pytest.fixture
def dbt_target_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """dbt's compiled files and logs go to a temporary directory, not dbt_project/target (for
    the modules that build the marts: ``pytestmark = pytest.mark.usefixtures(...)``)."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt_target")))


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[RunningApi]:
    """The API over the test's database, on a free port, as the read API runs: the database URL
    load_config resolves (DATABASE_URL's database as analytics_reader)."""
    url = load_config().database_url
    async with running_api(ApiConfig(database_url=url, port=0)) as running:
        yield running
