"""Input that must be validated, capped and bounded: exchangeInfo's symbols, WebSocket replies a
client never reads, gRPC Subscribe's symbols (issue #42, item 7)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import httpx
import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from api.config import ApiConfig, load_config
from api.proto.candles.v1 import candles_pb2, candles_pb2_grpc
from tests.support.api import running_api, write_live
from tests.support.ws import values

MINUTE = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


def reader_config(**settings: object) -> ApiConfig:
    """The API over the test's database as the reader role, on a free port."""
    return ApiConfig(database_url=load_config().database_url, port=0, **settings)


async def test_exchange_info_symbols_are_validated_and_capped(database_url, conn) -> None:
    """Binance's format (-1100), at most 100 names (-1101), held ones only (-1121)."""
    write_live(conn, "BTCUSDT", MINUTE, values("101"), True)
    async with running_api(reader_config()) as api, httpx.AsyncClient(base_url=api.http) as c:

        async def code(**params: str) -> int:
            answer = await c.get("/api/v3/exchangeInfo", params=params)
            return answer.json().get("code", answer.status_code)

        many = orjson.dumps([f"COIN{i}USDT" for i in range(101)]).decode()
        assert await code(symbols=many) == -1101
        assert await code(symbols='["btc usdt"]') == -1100
        assert await code(symbol="BTC'--") == -1100
        assert await code(symbols='["NOPEUSDT"]') == -1121
        assert await code(symbols='["BTCUSDT"]') == 200


async def test_replies_a_client_never_reads_are_bounded(database_url) -> None:
    """A client that sends requests and never reads their answers (each echoing a 50 kB id)
    is cut off once API's queue for it is full, instead of the queue growing without bound."""
    config = reader_config(max_queued_frames=4, max_incoming_per_sec=100_000)
    ident = "x" * 50_000
    sent = 400  # 20 MB of answers: more than the sockets' buffers hold
    received = 0
    async with running_api(config) as api:
        ws = await websockets.connect(f"{api.ws}/ws", max_queue=1, max_size=None)
        try:
            for _ in range(sent):
                await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": ident}).decode())
            async for _ in ws:
                received += 1
                if received == sent:
                    break  # every answer queued: nothing was bounded
        except ConnectionClosed:
            pass
        finally:
            await ws.close()
    assert received < sent


async def test_grpc_subscribe_symbols_are_deduplicated_and_capped(database_url, conn) -> None:
    """Subscribe names each stream once, and no more symbols than a WebSocket's streams."""
    for symbol in ("BTCUSDT", "ETHUSDT", "BNBUSDT"):
        write_live(conn, symbol, MINUTE, values("101"), True)
    async with (
        running_api(reader_config(max_streams=2)) as api,
        grpc.aio.insecure_channel(api.grpc_target) as channel,
    ):
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        too_many = stub.Subscribe(
            candles_pb2.SubscribeRequest(symbols=["BTCUSDT", "ETHUSDT", "BNBUSDT"], interval="1m")
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await too_many.read()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        repeated = stub.Subscribe(
            candles_pb2.SubscribeRequest(symbols=["BTCUSDT"] * 5000, interval="1m")
        )
        first = asyncio.ensure_future(repeated.read())
        async with asyncio.timeout(20):  # write until the running call has its subscription
            for close in range(102, 10_000):
                write_live(conn, "BTCUSDT", MINUTE, values(str(close)), False)
                await asyncio.wait({first}, timeout=0.2)
                if first.done():
                    break
        candle = first.result()
        assert candle.symbol == "BTCUSDT"
        repeated.cancel()
