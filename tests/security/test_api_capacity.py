"""What one client can take of the read API's capacity: gRPC weighed like REST and capped, the
push's connections out of reach of requests, connections per address, the open-file limit,
and Binance's -1008 when the pool is exhausted (issue #42, item 4)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
from datetime import UTC, datetime

import grpc
import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from api.config import ApiConfig, load_config
from api.proto.candles.v1 import candles_pb2, candles_pb2_grpc
from tests.support.api import running_api, write_live
from tests.support.cli import start_api
from tests.support.ws import until, values

MINUTE = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


def reader_config(**settings: object) -> ApiConfig:
    """The API over the test's database as the reader role, on a free port."""
    return ApiConfig(database_url=load_config().database_url, port=0, **settings)


async def test_grpc_history_spends_the_addresss_request_weight(database_url, conn) -> None:
    """History costs what /api/v3/klines costs, from the same per-address budget: past it,
    RESOURCE_EXHAUSTED with Binance's -1003."""
    write_live(conn, "BTCUSDT", MINUTE, values("101"), True)
    codes, details = [], []
    async with (
        running_api(reader_config(weight_limit=4)) as api,
        grpc.aio.insecure_channel(api.grpc_target) as channel,
    ):
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        ask = candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1m", limit=5)
        for _ in range(4):
            try:
                await stub.History(ask)
                codes.append("OK")
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code().name)
                details.append(exc.details() or "")
    assert all("-1003" in d for d in details)
    # Two calls of weight 2 fit in 4; a minute's turn would reset the count (then 3 OKs).
    assert codes.count("RESOURCE_EXHAUSTED") >= 1, codes


async def test_grpc_calls_in_progress_are_capped(database_url, conn) -> None:
    """Past API_GRPC_MAX_RPCS calls at once (Subscribe streams hold theirs), a new call is
    refused with RESOURCE_EXHAUSTED instead of queueing without bound."""
    write_live(conn, "BTCUSDT", MINUTE, values("101"), True)
    async with (
        running_api(reader_config(grpc_max_rpcs=2)) as api,
        grpc.aio.insecure_channel(api.grpc_target) as channel,
    ):
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        subscribe = candles_pb2.SubscribeRequest(symbols=["BTCUSDT"], interval="1m")
        held = [stub.Subscribe(subscribe) for _ in range(2)]
        reading = [asyncio.ensure_future(call.read()) for call in held]
        hub = api.api.hub
        for _ in range(400):  # until both streams run on the server
            if len(hub.streams.get("btcusdt@kline_1m", ())) == 2:
                break
            await asyncio.sleep(0.05)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.History(candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1m"))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for call in held:
            call.cancel()
        await asyncio.wait(reading)


async def test_the_push_keeps_working_while_every_request_connection_is_taken(
    database_url, conn
) -> None:
    """Requests hold every connection of their pools (a flood of health checks, tickers, UDF
    or gRPC history): a live candle still reaches a WebSocket subscriber."""
    async with running_api(reader_config(pool_size=1, pool_wait=0.2)) as api:
        state = api.api
        busy = [state.pool, state.klines_pool, state.tickers.pool, state.grpc_pool]
        async with (
            websockets.connect(f"{api.ws}/ws/btcusdt@kline_1m") as ws,
            contextlib.AsyncExitStack() as stack,
        ):
            for pool in busy:
                await stack.enter_async_context(pool.connection())
            write_live(conn, "BTCUSDT", MINUTE, values("105"), False)
            pushed = await until(ws, lambda m: m["k"]["c"] == "105.00000000")
            assert pushed["s"] == "BTCUSDT"


async def test_a_pool_timeout_answers_binances_overload_code(database_url, conn) -> None:
    """Every klines connection busy past the wait: 503 with -1008, not a 500 after 30 s."""
    write_live(conn, "BTCUSDT", MINUTE, values("101"), True)
    async with (
        running_api(reader_config(pool_size=1, pool_wait=0.2)) as api,
        api.api.klines_pool.connection(),
        httpx.AsyncClient(base_url=api.http) as client,
    ):
        answer = await client.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"})
    if answer.status_code == 400:
        pytest.fail(f"the symbol check answered first: {answer.text}")
    assert answer.status_code == 503
    assert answer.json()["code"] == -1008


async def test_one_address_cannot_take_every_connection(database_url) -> None:
    """Past API_MAX_CONNECTIONS_PER_ADDRESS open WebSockets from one address, its next one is
    refused; another address still gets in."""
    config = reader_config(max_connections_per_address=2)
    async with running_api(config) as api:
        first = await websockets.connect(f"{api.ws}/ws")
        second = await websockets.connect(f"{api.ws}/ws")
        try:
            with pytest.raises(InvalidStatus):
                await websockets.connect(f"{api.ws}/ws")
            port = int(api.ws.rsplit(":", 1)[1])
            other = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws", local_addr=("127.0.0.2", 0)
            )
            await other.close()
        finally:
            await first.close()
            await second.close()


async def test_websocket_handshakes_per_address_are_rate_limited(database_url) -> None:
    """Binance's 300 connections per 5 minutes per IP (here API_WS_CONNECTIONS_PER_5M=3):
    opening and closing at once does not get round it."""
    async with running_api(reader_config(ws_connections_per_5m=3)) as api:
        for _ in range(3):
            async with websockets.connect(f"{api.ws}/ws"):
                pass
        with pytest.raises(InvalidStatus):
            await websockets.connect(f"{api.ws}/ws")


def test_the_api_refuses_to_start_past_the_open_file_limit(database_url) -> None:
    """API_MAX_CONNECTIONS (10,000 by default) beyond what the process may open (a usual 1,024):
    one line naming the setting and exit status 2, not a server whose accepts fail later."""

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    env = {**os.environ, "API_PORT": "0", "API_GRPC_PORT": "0"}
    proc = start_api(env, stdout=subprocess.PIPE, preexec_fn=low_limit)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the API started with 10,000 connections allowed and 1,024 files")
    assert proc.returncode == 2
    assert "API_MAX_CONNECTIONS" in err
