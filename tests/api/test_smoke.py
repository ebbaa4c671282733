"""Quick checks of the service's plain endpoints."""

from __future__ import annotations

import httpx


async def test_ping_time_and_health(api) -> None:
    """ping answers {}, time answers serverTime, healthz is ok once listening."""
    async with httpx.AsyncClient(base_url=api.http) as client:
        assert (await client.get("/api/v3/ping")).json() == {}
        assert "serverTime" in (await client.get("/api/v3/time")).json()
        health = await client.get("/healthz")
        assert health.status_code == 200, health.text
