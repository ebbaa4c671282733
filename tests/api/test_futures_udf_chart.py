"""A USDⓈ-M perpetual in the TradingView UDF feed and on the chart page, named as TradingView
names Binance's perpetuals (BTCUSDT.P), and over gRPC with market "usdm": its bars are
market_usdm's, never spot's BTCUSDT."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import httpx
import orjson
import pytest

from api.config import ApiConfig, load_config
from api.proto.candles.v1 import candles_pb2, candles_pb2_grpc
from tests.support.api import RunningApi, running_api
from tests.support.chart import CHROMIUM, FILL, chromium
from tests.support.setup_tools import require

# Spot's BTCUSDT at 100, the perpetual at 93,000-odd (test_chart's series): never confused.
SPOT_FILL = """
insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, quote_volume,
    trade_count, taker_buy_volume, taker_buy_quote_volume, source)
select 'BTCUSDT', t, 100, 101, 99, 100.5, 2, 201, 3, 1, 100.5, 'rest'
from generate_series(timestamptz '2025-05-05 00:00', timestamptz '2025-05-05 05:58',
    interval '1 minute') as t
"""
FROM_S = int(datetime(2025, 5, 5, tzinfo=UTC).timestamp())


@pytest.fixture
async def api(database_url: str, conn) -> AsyncIterator[RunningApi]:
    conn.execute(FILL.replace("into market.klines_1m", "into market_usdm.klines_1m"))
    conn.execute(SPOT_FILL)
    url = load_config().database_url
    async with running_api(ApiConfig(database_url=url, port=0, markets=("spot", "usdm"))) as api:
        yield api


async def test_udf_serves_the_perpetual_as_btcusdt_p(api) -> None:
    """/udf/search lists BTCUSDT and BTCUSDT.P; /udf/symbols says the perpetual is futures;
    /udf/history of BINANCE:BTCUSDT.P equals /fapi/v1/klines, of BTCUSDT spot's klines."""
    async with httpx.AsyncClient(base_url=api.http) as client:
        found = (await client.get("/udf/search", params={"query": "btc"})).json()
        info = (await client.get("/udf/symbols", params={"symbol": "BINANCE:BTCUSDT.P"})).json()
        window = {"resolution": "60", "from": FROM_S, "to": FROM_S + 6 * 3600}
        perp = (await client.get("/udf/history", params={"symbol": "BTCUSDT.P", **window})).json()
        spot = (await client.get("/udf/history", params={"symbol": "BTCUSDT", **window})).json()
        fapi = (
            await client.get(
                "/fapi/v1/klines",
                params={"symbol": "BTCUSDT", "interval": "1h", "startTime": FROM_S * 1000},
            )
        ).json()
        seconds = await client.get(
            "/udf/history", params={**window, "symbol": "BTCUSDT.P", "resolution": "1S"}
        )
    assert [(f["symbol"], f["type"]) for f in found] == [
        ("BTCUSDT", "crypto"),
        ("BTCUSDT.P", "futures"),
    ]
    assert (info["name"], info["type"]) == ("BTCUSDT.P", "futures")
    assert perp["s"] == "ok"
    assert perp["t"] == [row[0] // 1000 for row in fapi]
    assert perp["c"] == [float(row[4]) for row in fapi]
    assert perp["v"] == [float(row[5]) for row in fapi]
    assert set(spot["c"]) == {100.5}
    assert seconds.json()["errmsg"] == "unsupported resolution"  # futures have no 1s


async def drawn(base: str, symbol: str) -> tuple[str, str, dict]:
    """The chart page opened on ``symbol`` at 1m: its DOM, its status and its drawn state."""
    for _ in range(3):
        dom = await chromium(
            "--virtual-time-budget=8000", "--dump-dom", f"{base}/?symbol={symbol}&interval=1m"
        )
        status = re.search(r'<span id="status">(.*?)</span>', dom, re.S)
        assert status, dom[-2000:]
        if status.group(1) != "359 candles":  # still connecting (test_chart.py says why)
            break
    found = re.search(r'<pre id="last">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return dom, status.group(1), orjson.loads(html.unescape(found.group(1)))


def assert_drew_the_newest(conn, schema: str, status: str, state: dict) -> None:
    """Assert the page drew the 359 minutes, the last at ``schema``'s newest close, and went
    live."""
    newest = conn.execute(
        f"select round(close, 8) from {schema}.klines_1m order by open_time desc limit 1"
    ).fetchone()[0]
    assert state["bars"] == 359
    assert state["last"]["close"] == float(newest)
    assert status == "live", status


@pytest.mark.slow  # a browser
async def test_chart_draws_the_perpetual_from_fapi_and_fws(api, conn) -> None:
    """The page lists BTCUSDT.P beside BTCUSDT and, opened on it, draws market_usdm's candles
    and signs its WebSocket in on /fws."""
    require("chromium", CHROMIUM is not None, "the chart page's browser test")
    dom, status, state = await drawn(api.http, "BTCUSDT.P")
    assert_drew_the_newest(conn, "market_usdm", status, state)
    assert "BTCUSDT.P · 1m" in dom  # the chart's title: the perpetual drawn
    assert '<option value="BTCUSDT.P">BTCUSDT.P</option>' in dom
    assert '<option value="BTCUSDT">BTCUSDT</option>' in dom


async def test_grpc_history_and_subscribe_by_market(api, conn) -> None:
    """candles.v1 with market "usdm": History equals /fapi/v1/klines, Subscribe streams the
    perpetual's live minute; no market is spot's; an unknown one, or 1s on futures, is refused."""
    async with (
        grpc.aio.insecure_channel(api.grpc_target) as channel,
        httpx.AsyncClient(base_url=api.http) as client,
    ):
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        perp = await stub.History(
            candles_pb2.HistoryRequest(
                symbol="BTCUSDT", interval="1h", start_time=FROM_S * 1000, market="usdm"
            )
        )
        spot = await stub.History(
            candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1h", start_time=FROM_S * 1000)
        )
        fapi = (
            await client.get(
                "/fapi/v1/klines",
                params={"symbol": "BTCUSDT", "interval": "1h", "startTime": FROM_S * 1000},
            )
        ).json()
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.History(
                candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1h", market="coinm")
            )
        with pytest.raises(grpc.aio.AioRpcError) as second:
            await stub.History(
                candles_pb2.HistoryRequest(symbol="BTCUSDT", interval="1s", market="usdm")
            )
        call = stub.Subscribe(
            candles_pb2.SubscribeRequest(symbols=["BTCUSDT"], interval="1m", market="usdm")
        )
        minute = datetime.fromtimestamp(time.time() // 60 * 60, UTC)
        # One read of the stream (a read cancelled would cancel the call), while the minute is
        # written again until the call is subscribed: Binance pushes changes only.
        reader = asyncio.ensure_future(call.read())
        for n in range(50):
            conn.execute(
                "insert into market_usdm.candles_1m_live (symbol, open_time, open, high, low, "
                "close, volume, quote_volume, trade_count, taker_buy_volume, "
                "taker_buy_quote_volume, is_closed) values ('BTCUSDT', %s, 93000, 93010, 92990, "
                "93005.5, %s, 1, 1, 0, 0, false) on conflict (symbol, open_time) do update set "
                "volume = excluded.volume",
                (minute, n + 1),
            )
            await asyncio.wait({reader}, timeout=0.3)
            if reader.done():
                break
        live = reader.result() if reader.done() else None
        call.cancel()
    assert [(c.open_time, c.close) for c in perp.candles] == [(r[0], r[4]) for r in fapi]
    assert {c.close for c in spot.candles} == {"100.50000000"}
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Unknown market 'coinm'" in unknown.value.details()
    assert second.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert live is not None, "no live candle streamed"
    assert (live.symbol, live.close, live.is_closed) == ("BTCUSDT", "93005.50000000", False)


@pytest.mark.slow  # a browser
async def test_chart_draws_a_coinm_contract_from_dapi_and_dws(database_url: str, conn) -> None:
    """With COIN-M run, the page lists BTCUSD_PERP (Binance's name, as the UDF feed gives it)
    and, opened on it, draws market_coinm's candles and signs its WebSocket in on /dws."""
    require("chromium", CHROMIUM is not None, "the chart page's browser test")
    conn.execute(
        FILL.replace("into market.klines_1m", "into market_coinm.klines_1m").replace(
            "'BTCUSDT'", "'BTCUSD_PERP'"
        )
    )
    conn.execute(SPOT_FILL)
    config = ApiConfig(database_url=load_config().database_url, port=0, markets=("spot", "coinm"))
    async with running_api(config) as api:
        dom, status, state = await drawn(api.http, "BTCUSD_PERP")
    assert_drew_the_newest(conn, "market_coinm", status, state)
    assert "BTCUSD_PERP · 1m" in dom
    assert '<option value="BTCUSD_PERP">BTCUSD_PERP</option>' in dom
    assert '<option value="BTCUSDT">BTCUSDT</option>' in dom
