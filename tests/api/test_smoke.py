"""Quick checks of the service's plain endpoints."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest

from api.config import load_config
from include.platform import db


async def test_ping_time_and_health(api) -> None:
    """ping answers {}, time answers serverTime, healthz is ok once listening."""
    async with httpx.AsyncClient(base_url=api.http) as client:
        assert (await client.get("/api/v3/ping")).json() == {}
        assert "serverTime" in (await client.get("/api/v3/time")).json()
        health = await client.get("/healthz")
        assert health.status_code == 200, health.text


async def test_the_api_reads_as_analytics_reader(api, database_url: str) -> None:
    """Given DATABASE_URL (the administrator's), the API logs in as analytics_reader: its query
    pool and its LISTEN connection are that role's sessions."""
    assert load_config().database_url == db.role_url(database_url, db.READER)
    async with httpx.AsyncClient(base_url=api.http) as client:
        assert (await client.get("/healthz")).status_code == 200
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(100):
            rows = conn.execute(
                "select application_name, usename from pg_stat_activity "
                "where application_name in ('api', 'api-listener') "
                "and datname = current_database()"
            ).fetchall()
            if {name for name, _ in rows} == {"api", "api-listener"}:
                break
            await asyncio.sleep(0.1)
    assert {name for name, _ in rows} == {"api", "api-listener"}
    assert {user for _, user in rows} == {db.READER}


def test_loading_a_configuration_starts_no_database(tmp_path, monkeypatch) -> None:
    """Without DATABASE_URL and with no embedded server running, loading the API's or the
    streamer's configuration says so in one line and starts nothing: only their entry points
    start the embedded server."""
    from include.platform.settings import Settings
    from streamer.config import load_config as load_streamer_config

    for name in ("DATABASE_URL", "API_DATABASE_URL", "STREAMER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None, data_dir=tmp_path)
    for load in (load_config, load_streamer_config):
        with pytest.raises(RuntimeError, match="no embedded PostgreSQL runs"):
            load(settings)
    assert list(tmp_path.iterdir()) == []
