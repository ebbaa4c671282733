"""Exposed safely: TLS for HTTP, WebSocket and gRPC (API_TLS_CERT, API_TLS_KEY), tokens from
headers or the chart page's session cookie, and no token taken from a URL once exposed."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from api.config import ApiConfig
from api.proto.candles.v1 import candles_pb2, candles_pb2_grpc
from tests.support.api import running_api, write_live
from tests.support.tls import self_signed

MINUTE = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)
TOKEN = "s3cret-token"


async def test_tls_serves_https_wss_and_grpc(database_url: str, conn, tmp_path: Path) -> None:
    """With API_TLS_CERT and API_TLS_KEY every door speaks TLS: HTTPS, WSS and gRPC answer a
    client that trusts the certificate; plain HTTP on the same port gets nothing."""
    cert, key = self_signed(tmp_path)
    write_live(
        conn, "BTCUSDT", MINUTE, ("100", "110", "90", "101", "1", "100", 1, "0.5", "50"), True
    )
    config = ApiConfig(database_url=database_url, port=0, tls_cert=cert, tls_key=key)
    config.check()
    async with running_api(config) as api:
        await api.api.symbols.refresh()
        assert api.http.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(base_url=api.http, verify=trust) as client:
            assert (await client.get("/api/v3/ping")).json() == {}
        plain = api.http.replace("https://", "http://")
        async with httpx.AsyncClient(base_url=plain) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get("/api/v3/ping")
        async with websockets.connect(f"{api.ws}/ws", ssl=trust) as ws:
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":7}')
            assert '"id":7' in await asyncio.wait_for(ws.recv(), 5)
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(api.grpc_target, credentials) as channel:
            stub = candles_pb2_grpc.CandleServiceStub(channel)
            history = await stub.History(
                candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1h", limit=10)
            )
            assert len(history.candles) == 1


def test_half_a_tls_configuration_is_refused(database_url: str, tmp_path: Path) -> None:
    """A certificate without its key (or a missing file) stops the start with one line."""
    cert, _key = self_signed(tmp_path)
    with pytest.raises(ValueError, match="API_TLS_CERT and API_TLS_KEY go together"):
        ApiConfig(database_url=database_url, tls_cert=cert).check()
    with pytest.raises(ValueError, match=r"API_TLS_KEY=.*no such file"):
        ApiConfig(database_url=database_url, tls_cert=cert, tls_key=tmp_path / "nope").check()


async def test_exposed_takes_tokens_from_headers_and_the_session_cookie_only(
    database_url: str,
) -> None:
    """Bound beyond loopback, ?token= is refused (a URL is logged and kept in histories), on
    HTTP and WebSocket alike; a header works, and the chart page's POST /session gives an
    HttpOnly, SameSite=Strict cookie that its WebSocket carries."""
    config = ApiConfig(
        database_url=database_url, host="0.0.0.0", port=0, tokens={TOKEN}, allow_plaintext=True
    )
    config.check()
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        in_url = await client.get("/api/v3/exchangeInfo", params={"token": TOKEN})
        assert in_url.status_code == 401
        header = await client.get("/api/v3/exchangeInfo", headers={"X-MBX-APIKEY": TOKEN})
        assert header.status_code == 200
        with pytest.raises(InvalidStatus):
            async with websockets.connect(f"{api.ws}/ws?token={TOKEN}"):
                pass

        session = await client.post("/session", headers={"X-MBX-APIKEY": TOKEN})
        assert session.status_code == 204
        cookie = session.headers["set-cookie"]
        assert cookie.startswith(f"api_token={TOKEN};")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        refused = await client.post("/session", headers={"X-MBX-APIKEY": "wrong"})
        assert refused.status_code == 401
        with_cookie = {"Cookie": f"api_token={TOKEN}"}
        assert (await client.get("/udf/config", headers=with_cookie)).status_code == 200
        async with websockets.connect(f"{api.ws}/ws", additional_headers=with_cookie) as ws:
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":3}')
            assert '"id":3' in await asyncio.wait_for(ws.recv(), 5)


async def test_on_loopback_a_url_token_still_works(database_url: str) -> None:
    """On loopback (the default), old links with ?token= keep working."""
    config = ApiConfig(database_url=database_url, port=0, tokens=frozenset({TOKEN}))
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        response = await client.get("/api/v3/exchangeInfo", params={"token": TOKEN})
        assert response.status_code == 200
