"""Who the read API believes a client is, and which host names it answers: a forged
X-Forwarded-For does not reset a weight budget, a DNS-rebinding page's Host is refused
(issue #42, items 3 and 8)."""

from __future__ import annotations

import time

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from api.config import ApiConfig, load_config
from tests.support.api import running_api


def reader_config(**settings: object) -> ApiConfig:
    """The API over the test's database as the reader role, on a free port."""
    return ApiConfig(database_url=load_config().database_url, port=0, **settings)


async def test_a_forged_forwarded_for_does_not_escape_the_weight_limit(database_url) -> None:
    """A local client naming a new address per request in X-Forwarded-For still meets its
    429: only API_TRUSTED_PROXIES are believed, and none are by default."""
    # Binance's weight resets as the minute turns: a pair the turn split is sent again to a
    # fresh API (two turns a minute apart cannot split both pairs).
    for _ in range(2):
        async with (
            running_api(reader_config(weight_limit=30)) as api,
            httpx.AsyncClient(base_url=api.http) as client,
        ):
            minute = time.time() // 60
            answers = [
                await client.get("/api/v3/exchangeInfo", headers={"X-Forwarded-For": f"10.0.0.{i}"})
                for i in range(2)
            ]
        if time.time() // 60 == minute:
            break
    assert answers[0].status_code == 200
    assert answers[1].status_code == 429
    assert answers[1].json()["code"] == -1003


async def test_a_named_proxy_is_believed(database_url) -> None:
    """Behind a proxy the user names (here loopback), each forwarded client has its own budget."""
    config = reader_config(weight_limit=30, trusted_proxies=frozenset({"127.0.0.1"}))
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        for i in range(3):
            answer = await client.get(
                "/api/v3/exchangeInfo", headers={"X-Forwarded-For": f"10.0.0.{i}"}
            )
            assert answer.status_code == 200
            assert answer.headers["x-mbx-used-weight-1m"] == "20"


async def test_a_dns_rebinding_host_is_refused(database_url) -> None:
    """A page on attacker.example whose name now resolves to 127.0.0.1 sends its own Host and
    passes the Origin check (same host as Origin): refused over HTTP (400) and WebSocket. The
    loopback names pass with any port, as ccxt (127.0.0.1:PORT) and the browser (localhost)."""
    async with running_api(reader_config()) as api, httpx.AsyncClient(base_url=api.http) as client:
        port = api.http.rsplit(":", 1)[1]
        evil = f"attacker.example:{port}"
        refused = await client.get("/api/v3/ping", headers={"Host": evil})
        assert refused.status_code == 400
        assert "Host" in refused.json()["msg"]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
            assert (await client.get("/api/v3/ping", headers={"Host": host})).status_code == 200
        with pytest.raises(InvalidStatus):
            # The browser resolved attacker.example to 127.0.0.1: same socket, the page's names.
            async with websockets.connect(
                f"ws://{evil}/ws",
                host="127.0.0.1",
                port=int(port),
                origin=f"http://{evil}",
            ):
                pass


async def test_configured_host_names_are_answered(database_url) -> None:
    """API_ALLOWED_HOSTS adds the names the user serves under (a proxy's, a LAN name)."""
    config = reader_config(allowed_hosts=frozenset({"candles.example"}))
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        ok = await client.get("/api/v3/ping", headers={"Host": "candles.example"})
        assert ok.status_code == 200
        other = await client.get("/api/v3/ping", headers={"Host": "other.example"})
        assert other.status_code == 400
