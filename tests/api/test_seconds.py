"""1s candles (SECOND_CANDLE_SYMBOLS) on /api/v3/klines and the kline stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
import websockets

from api.config import ApiConfig, load_config
from api.proto.candles.v1 import candles_pb2, candles_pb2_grpc
from tests.support.api import listener_lost, running_api
from tests.support.ws import until

T0 = datetime(2025, 7, 8, 17, 0, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
SECOND_INSERT = (
    "insert into market.candles_1s_live (symbol, open_time, open, high, low, close, volume, "
    "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, is_closed) "
    "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "on conflict (symbol, open_time) do update set close = excluded.close, "
    "is_closed = excluded.is_closed"
)


def btc_seconds() -> ApiConfig:
    """The test database's API, with 1s candles for BTCUSDT (SECOND_CANDLE_SYMBOLS)."""
    return ApiConfig(
        database_url=load_config().database_url, port=0, second_symbols=frozenset({"BTCUSDT"})
    )


def write_second(conn, symbol: str, n: int, close: str, closed: bool = True) -> None:
    """The n-th second after T0, as the streamer writes it."""
    conn.execute(
        SECOND_INSERT,
        (symbol, T0 + timedelta(seconds=n), "100", "101", "99", close, "2", "201", 3, "1",
         "100.5", closed),
    )  # fmt: skip


async def test_1s_klines_for_the_named_symbols(database_url, conn) -> None:
    """interval=1s answers the streamer's seconds for a symbol of SECOND_CANDLE_SYMBOLS, in
    Binance's shape (close time = open + 999 ms), newest or from startTime; any other symbol,
    or an API not told of it, answers -1120."""
    for n in range(5):
        write_second(conn, "BTCUSDT", n, f"100.{n}")
    write_second(conn, "ETHUSDT", 0, "7")
    conn.execute(
        "insert into market.symbols (symbol, status) values ('BTCUSDT', 'TRADING'), "
        "('ETHUSDT', 'TRADING') on conflict do nothing"
    )
    config = btc_seconds()
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        newest = await client.get(
            "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1s", "limit": 2}
        )
        assert newest.status_code == 200, newest.text
        assert newest.json() == [
            [T0_MS + 3000, "100.00000000", "101.00000000", "99.00000000", "100.30000000",
             "2.00000000", T0_MS + 3999, "201.00000000", 3, "1.00000000", "100.50000000", "0"],
            [T0_MS + 4000, "100.00000000", "101.00000000", "99.00000000", "100.40000000",
             "2.00000000", T0_MS + 4999, "201.00000000", 3, "1.00000000", "100.50000000", "0"],
        ]  # fmt: skip
        ranged = await client.get(
            "/api/v3/uiKlines",
            params={
                "symbol": "BTCUSDT",
                "interval": "1s",
                "startTime": T0_MS + 1000,
                "endTime": T0_MS + 2500,
            },
        )
        assert [r[0] for r in ranged.json()] == [T0_MS + 1000, T0_MS + 2000]
        other = await client.get("/api/v3/klines", params={"symbol": "ETHUSDT", "interval": "1s"})
        assert (other.status_code, other.json()["code"]) == (400, -1120)
        assert "SECOND_CANDLE_SYMBOLS" in other.json()["msg"]
    async with (
        running_api(ApiConfig(database_url=config.database_url, port=0)) as api,
        httpx.AsyncClient(base_url=api.http) as client,
    ):
        off = await client.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1s"})
        assert (off.status_code, off.json()["code"]) == (400, -1120)


async def test_1s_stream_pushes_each_second_as_the_streamer_writes_it(database_url, conn):
    """btcusdt@kline_1s: an event per second written, `x` as the table holds it, read back
    from the table."""
    config = btc_seconds()
    async with (
        running_api(config) as api,
        websockets.connect(f"{api.ws}/stream?streams=btcusdt@kline_1s/btcusdt@kline_1m") as ws,
    ):
        write_second(conn, "BTCUSDT", 7, "105", closed=False)
        event = await until(ws, lambda m: m["stream"] == "btcusdt@kline_1s")
        k = event["data"]["k"]
        assert (k["i"], k["t"], k["T"], k["c"], k["x"]) == (
            "1s",
            T0_MS + 7000,
            T0_MS + 7999,
            "105.00000000",
            False,
        )
        write_second(conn, "BTCUSDT", 7, "106", closed=True)
        event = await until(ws, lambda m: m["stream"] == "btcusdt@kline_1s")
        assert (event["data"]["k"]["c"], event["data"]["k"]["x"]) == ("106.00000000", True)


async def test_a_second_that_closed_while_the_listener_was_away_is_pushed_closed(
    database_url, conn
) -> None:
    """The listener loses the database while second 7 is forming: once it is back, second 7
    is pushed closed as the table holds it and second 8, written meanwhile, is pushed too (the
    catch-up read the minutes only, so a 1s subscriber kept 7 forming)."""
    config = btc_seconds()
    async with (
        running_api(config) as api,
        websockets.connect(f"{api.ws}/ws/btcusdt@kline_1s") as ws,
    ):
        write_second(conn, "BTCUSDT", 7, "105", closed=False)
        await until(ws, lambda m: m["k"]["t"] == T0_MS + 7000)
        async with listener_lost(database_url, conn, api.api.hub):
            write_second(conn, "BTCUSDT", 7, "106", closed=True)
            write_second(conn, "BTCUSDT", 8, "107", closed=False)
            await asyncio.sleep(1.0)
        closed = await until(ws, lambda m: m["k"]["t"] == T0_MS + 7000 and m["k"]["x"])
        assert closed["k"]["c"] == "106.00000000"
        forming = await until(ws, lambda m: m["k"]["t"] == T0_MS + 8000)
        assert (forming["k"]["c"], forming["k"]["x"]) == ("107.00000000", False)


async def test_1s_over_grpc_and_udf(database_url, conn) -> None:
    """gRPC History (interval 1s, closed as the streamer holds each second) and the UDF
    datafeed (resolution 1S, offered in the symbol's info) serve the same seconds for a symbol
    of SECOND_CANDLE_SYMBOLS; any other symbol gets
    INVALID_ARGUMENT and a UDF error naming the variable, and no 1S in its info."""
    for n in range(3):
        write_second(conn, "BTCUSDT", n, f"100.{n}", closed=n < 2)
    conn.execute(
        "insert into market.symbols (symbol, status) values ('BTCUSDT', 'TRADING'), "
        "('ETHUSDT', 'TRADING') on conflict do nothing"
    )
    write_second(conn, "ETHUSDT", 0, "7")
    config = btc_seconds()
    async with (
        running_api(config) as api,
        grpc.aio.insecure_channel(api.grpc_target) as channel,
        httpx.AsyncClient(base_url=api.http) as client,
    ):
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        history = await stub.History(
            candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1s", limit=10)
        )
        assert [(c.open_time, c.close_time, c.close) for c in history.candles] == [
            (T0_MS + n * 1000, T0_MS + n * 1000 + 999, f"100.{n}0000000") for n in range(3)
        ]
        # Closed as the streamer holds them: the newest second is still forming.
        assert [c.is_closed for c in history.candles] == [True, True, False]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.History(candles_pb2.HistoryRequest(symbol="ETHUSDT", interval="1s"))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "SECOND_CANDLE_SYMBOLS" in refused.value.details()

        info = (await client.get("/udf/symbols", params={"symbol": "BTCUSDT"})).json()
        assert info["has_seconds"] is True
        assert "1S" in info["supported_resolutions"]
        window = {"resolution": "1S", "from": T0_MS // 1000, "to": T0_MS // 1000 + 3}
        bars = (await client.get("/udf/history", params={"symbol": "BTCUSDT", **window})).json()
        assert (bars["s"], bars["t"]) == ("ok", [T0_MS // 1000 + n for n in range(3)])
        assert bars["c"] == [100.0, 100.1, 100.2]
        eth = (await client.get("/udf/symbols", params={"symbol": "ETHUSDT"})).json()
        assert eth["has_seconds"] is False
        assert "1S" not in eth["supported_resolutions"]
        none = (await client.get("/udf/history", params={"symbol": "ETHUSDT", **window})).json()
        assert none["s"] == "error"
        assert "SECOND_CANDLE_SYMBOLS" in none["errmsg"]
