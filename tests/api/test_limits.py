"""What one client may take from the API: Binance's request weight, a connection cap, a
statement timeout, browser origins (WebSocket Origin, CORS) and a bounded UDF history."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from api.config import ApiConfig
from api.limits import WeightLimiter
from include.platform.settings import Settings
from tests.support.api import running_api
from tests.support.klines import flat_minutes

FILL_1M = flat_minutes(6000)


def client_from(address: str, base_url: str, **kwargs) -> httpx.AsyncClient:
    """An HTTP client whose requests leave from ``address`` (another loopback IP, another user)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, **kwargs)


def test_the_defaults_are_binances_and_bounded() -> None:
    """Out of the box: Binance's 6,000 weight a minute per IP, a statement timeout, a cap."""
    settings = Settings(_env_file=None)
    assert settings.api_weight_limit == 6000
    assert 0 < settings.api_statement_timeout <= 30
    assert 0 < settings.api_max_connections <= 100_000
    assert settings.api_cors_origin_set == frozenset()


async def test_request_weight_is_counted_per_client_and_refused_past_the_limit(
    database_url: str, conn
) -> None:
    """Every metered answer carries the minute's weight; past the limit a 429 with -1003 and a
    Retry-After that ends with the minute, as Binance does; another address is not affected."""
    config = ApiConfig(database_url=database_url, port=0, weight_limit=30)
    async with running_api(config) as api:
        # The window is the wall clock's minute: a try the minute turned in is made again from
        # another address (the next try cannot meet another turn, a minute on).
        for attempt in range(2):
            minute = int(time.time() // 60)
            async with client_from(f"127.0.1.{attempt + 1}", api.http) as client:
                first = await client.get("/api/v3/ping")
                info = await client.get("/api/v3/exchangeInfo")
                page = await client.get("/healthz")
                refused = await client.get("/api/v3/exchangeInfo")
                small = await client.get("/api/v3/time")
            if int(time.time() // 60) == minute:
                break
        assert first.status_code == 200
        assert first.headers["x-mbx-used-weight-1m"] == "1"
        assert info.headers["x-mbx-used-weight-1m"] == "21"
        # The page and the health check are not metered.
        assert "x-mbx-used-weight-1m" not in page.headers
        # exchangeInfo says the limit it is refused by, as Binance's does.
        assert info.json()["rateLimits"] == [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 30}
        ]
        assert refused.status_code == 429
        assert refused.json()["code"] == -1003
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-mbx-used-weight-1m"] == "21"
        # Small requests still fit under the limit; another user is untouched.
        assert small.status_code == 200
        async with client_from("127.0.0.2", api.http) as other:
            fresh = await other.get("/api/v3/exchangeInfo")
            assert fresh.status_code == 200
            assert fresh.headers["x-mbx-used-weight-1m"] == "20"


async def test_exchange_info_claims_no_limit_when_none_is_enforced(database_url: str) -> None:
    """API_WEIGHT_LIMIT=0 turns the weight off: exchangeInfo's rateLimits is then empty."""
    config = ApiConfig(database_url=database_url, port=0, weight_limit=0)
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        assert (await client.get("/api/v3/exchangeInfo")).json()["rateLimits"] == []


def test_the_weight_window_is_the_calendar_minute() -> None:
    """A spent minute opens again at the next minute, not 60 s after the first request."""
    now = [120.0 + 50]
    limiter = WeightLimiter(10, clock=lambda: now[0])
    assert limiter.spend("a", 10).allowed
    spent = limiter.spend("a", 1)
    assert (spent.allowed, spent.used, spent.retry_after) == (False, 10, 10)
    now[0] = 180.0
    assert limiter.spend("a", 1).used == 1


async def test_queries_run_under_a_statement_timeout(database_url: str) -> None:
    """Every query the API runs for a client is cancelled past API_STATEMENT_TIMEOUT."""
    config = ApiConfig(database_url=database_url, port=0, statement_timeout=2.5)
    async with running_api(config) as api, api.api.pool.connection() as conn:
        shown = await (await conn.execute("show statement_timeout")).fetchone()
        assert shown == ("2500ms",)


async def test_websocket_origin_is_checked(database_url: str) -> None:
    """A page of another site may not open the stream (its visitor's cookies or network would
    reach it); no Origin (a program), the API's own page and API_CORS_ORIGINS may."""
    config = ApiConfig(
        database_url=database_url, port=0, cors_origins=frozenset({"https://charts.example"})
    )
    async with running_api(config) as api:
        port = api.http.rsplit(":", 1)[1]
        for origin in (None, f"http://127.0.0.1:{port}", "https://charts.example"):
            async with websockets.connect(f"{api.ws}/ws", origin=origin) as ws:
                await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
                assert '"id":1' in await asyncio.wait_for(ws.recv(), 5)
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(f"{api.ws}/ws", origin="https://evil.example"):
                pass
        assert refused.value.response.status_code == 403


async def test_connections_are_capped(database_url: str) -> None:
    """Past API_MAX_CONNECTIONS a WebSocket is refused and a request answered 503 with -1008;
    a place given back is taken again."""
    config = ApiConfig(database_url=database_url, port=0, max_connections=2)
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        first = await websockets.connect(f"{api.ws}/ws")
        second = await websockets.connect(f"{api.ws}/ws")
        with pytest.raises(InvalidStatus):
            await websockets.connect(f"{api.ws}/ws")
        busy = await client.get("/api/v3/ping")
        assert busy.status_code == 503
        assert busy.json()["code"] == -1008
        await first.close()
        for _ in range(50):
            if (await client.get("/api/v3/ping")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the closed connection's place was not given back")
        await second.close()


async def test_cors_lets_only_the_listed_origins_read(database_url: str, conn) -> None:
    """API_CORS_ORIGINS: the listed page may read (a preflight passes even with tokens on, and
    the weight header is exposed); another page's browser gets no permission."""
    config = ApiConfig(
        database_url=database_url,
        port=0,
        tokens=frozenset({"s3cret"}),
        cors_origins=frozenset({"https://charts.example"}),
    )
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        preflight = await client.options(
            "/udf/config",
            headers={
                "Origin": "https://charts.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://charts.example"
        ok = await client.get(
            "/udf/config",
            headers={"Origin": "https://charts.example", "Authorization": "Bearer s3cret"},
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://charts.example"
        assert "x-mbx-used-weight-1m" in ok.headers["access-control-expose-headers"].lower()
        other = await client.get(
            "/udf/config",
            headers={"Origin": "https://evil.example", "Authorization": "Bearer s3cret"},
        )
        assert "access-control-allow-origin" not in other.headers


async def test_udf_history_is_bounded(api, conn) -> None:
    """However many bars a chart asks for, one answer holds at most 5,000."""
    conn.execute(FILL_1M)
    async with httpx.AsyncClient(base_url=api.http) as client:
        start = 1735689600  # 2025-01-01
        asked = {"symbol": "BTCUSDT", "resolution": "1", "from": start, "to": start + 6000 * 60}
        body = (await client.get("/udf/history", params=asked)).json()
        assert body["s"] == "ok"
        assert len(body["t"]) == 5000
        back = (await client.get("/udf/history", params={**asked, "countback": 20000})).json()
        assert len(back["t"]) == 5000
