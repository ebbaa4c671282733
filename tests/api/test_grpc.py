"""candles.v1.CandleService with a real gRPC client: History and the Subscribe stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from api.config import ApiConfig
from api.proto.candles.v1 import candles_pb2, candles_pb2_grpc
from tests.support.api import running_api, write_live

MINUTE = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


async def test_history_and_subscribe(api, conn) -> None:
    """History answers as /api/v3/klines; Subscribe streams forming then closed candles."""
    write_live(
        conn, "BTCUSDT", MINUTE, ("100", "110", "90", "101", "1", "100", 1, "0.5", "50"), True
    )
    await api.api.symbols.refresh()
    async with grpc.aio.insecure_channel(api.grpc_target) as channel:
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        history = await stub.History(
            candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1h", limit=10)
        )
        (candle,) = history.candles
        assert (candle.open_time, candle.close_time) == (1746439200000, 1746442799999)
        assert (candle.open, candle.close, candle.volume, candle.trade_count) == (
            "100.00000000",
            "101.00000000",
            "1.00000000",
            1,
        )

        call = stub.Subscribe(candles_pb2.SubscribeRequest(symbols=["BTCUSDT"], interval="5m"))
        await asyncio.sleep(0.5)  # the subscription is registered once the call is running
        nxt = MINUTE + timedelta(minutes=4)
        write_live(
            conn, "BTCUSDT", nxt, ("101", "120", "100", "119", "2", "238", 4, "1", "119"), False
        )
        forming = await asyncio.wait_for(call.read(), 10)
        assert (forming.symbol, forming.interval, forming.is_closed) == ("BTCUSDT", "5m", False)
        assert (forming.high, forming.close, forming.volume, forming.trade_count) == (
            "120.00000000",
            "119.00000000",
            "3.00000000",
            5,
        )
        write_live(
            conn, "BTCUSDT", nxt, ("101", "120", "100", "118", "2", "238", 4, "1", "119"), True
        )
        closed = await asyncio.wait_for(call.read(), 10)
        assert (closed.close, closed.is_closed) == ("118.00000000", True)
        call.cancel()

        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.History(candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="2m"))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_history_closes_what_the_tables_hold_closed(api, conn) -> None:
    """A symbol whose history was loaded while the API ran (official klines only, so no push
    ever named a minute of it): its complete hours are closed, the hour whose minutes are not
    all there is forming (it was every candle forming, by the push's newest minute)."""
    conn.execute(
        "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume,"
        " quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source)"
        " select 'BTCUSDT', %s + make_interval(mins => m), 100, 110, 90, 101, 1, 100, 1, 0.5,"
        " 50, 'rest' from generate_series(0, 149) as m",
        (MINUTE,),
    )
    await api.api.symbols.refresh()
    async with grpc.aio.insecure_channel(api.grpc_target) as channel:
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        history = await stub.History(
            candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1h", limit=10)
        )
    assert [(c.open_time, c.is_closed) for c in history.candles] == [
        (1746439200000, True),
        (1746442800000, True),
        (1746446400000, False),
    ]


async def test_grpc_requires_a_token_when_set(database_url) -> None:
    """With API_TOKENS, a call without x-mbx-apikey metadata is UNAUTHENTICATED."""
    config = ApiConfig(database_url=database_url, port=0, tokens=frozenset({"s3cret"}))
    async with running_api(config) as api, grpc.aio.insecure_channel(api.grpc_target) as channel:
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        request = candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1h")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.History(request)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.History(request, metadata=(("x-mbx-apikey", "s3cret"),))
        assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # no such symbol yet


async def test_3d_history_on_the_symbols_own_grid_over_grpc_and_udf(api, conn) -> None:
    """gRPC History and UDF history (resolution 3D) serve 3d candles from the symbol's first
    day of trading, as /api/v3/klines does; before that day is known: INVALID_ARGUMENT and a
    UDF error naming it, never candles on the epoch's grid."""
    conn.execute(
        "insert into market.symbols (symbol, status, first_day) values "
        "('BTCUSDT', 'TRADING', '2017-08-17'), ('ETHUSDT', 'TRADING', null) "
        "on conflict (symbol) do update set first_day = excluded.first_day"
    )
    minute = datetime(2025, 7, 8, 17, 0, tzinfo=UTC)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        write_live(
            conn, symbol, minute, ("100", "110", "90", "103", "1", "100", 1, "0.5", "50"), True
        )
    await api.api.symbols.refresh()
    grid = int(datetime(2025, 7, 6, tzinfo=UTC).timestamp() * 1000)  # 2017-08-17 + 3k days
    async with grpc.aio.insecure_channel(api.grpc_target) as channel:
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        history = await stub.History(
            candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="3d", limit=10)
        )
        (candle,) = history.candles
        assert (candle.open_time, candle.close_time, candle.close) == (
            grid,
            grid + 3 * 86_400_000 - 1,
            "103.00000000",
        )
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.History(candles_pb2.HistoryRequest(symbol="ETHUSDT", interval="3d"))
        assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    async with httpx.AsyncClient(base_url=api.http) as client:
        window = {
            "resolution": "3D",
            "from": grid // 1000 - 86400 * 6,
            "to": grid // 1000 + 86400 * 6,
        }
        udf = (await client.get("/udf/history", params={"symbol": "BTCUSDT", **window})).json()
        assert (udf["s"], udf["t"], udf["c"]) == ("ok", [grid // 1000], [103])
        rest = (
            await client.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "3d"})
        ).json()
        assert [[k[0], k[4]] for k in rest] == [[grid, "103.00000000"]]
        eth = (await client.get("/udf/history", params={"symbol": "ETHUSDT", **window})).json()
        assert eth["s"] == "error"
        assert eth["errmsg"]


async def health_of(channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return (await stub.Check(health_pb2.HealthCheckRequest(service=service))).status


async def watch_until(channel, service: str, status: int) -> None:
    """Follow the health service's Watch stream until it says ``status`` (10 s at most)."""
    stub = health_pb2_grpc.HealthStub(channel)
    async with asyncio.timeout(10):
        async for answer in stub.Watch(health_pb2.HealthCheckRequest(service=service)):
            if answer.status == status:
                return


async def test_grpc_health_says_what_healthz_says(api) -> None:
    """grpc.health.v1 (no token, as probes send none): SERVING for the server and the candle
    service while /healthz is ok; NOT_SERVING once the push listener has ended."""
    serving = health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.insecure_channel(api.grpc_target) as channel:
        await watch_until(channel, "", serving)
        assert await health_of(channel, "candles.v1.CandleService") == serving
        listener = api.api.push_tasks[0]
        listener.cancel()
        await asyncio.wait([listener])
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        await watch_until(channel, "candles.v1.CandleService", not_serving)
        assert await health_of(channel) == not_serving
        assert (await api.api.health())["status"] == "degraded"


async def list_services(channel, metadata=()) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for answer in stub.ServerReflectionInfo(iter([request]), metadata=metadata):
        return sorted(s.name for s in answer.list_services_response.service)
    return []


async def test_grpc_reflection_lists_the_services_and_asks_a_token_when_set(database_url) -> None:
    """Server reflection (grpcurl, Postman) lists the candle service; with API_TOKENS it needs
    a token like the candle service, while health stays open to probes."""
    config = ApiConfig(database_url=database_url, port=0, tokens=frozenset({"s3cret"}))
    async with running_api(config) as api, grpc.aio.insecure_channel(api.grpc_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await list_services(channel)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert await list_services(channel, (("x-mbx-apikey", "s3cret"),)) == [
            "candles.v1.CandleService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
        assert await health_of(channel) in (
            health_pb2.HealthCheckResponse.SERVING,
            health_pb2.HealthCheckResponse.NOT_SERVING,
        )
