"""USDⓈ-M's kline streams on /fws: the streamer's writes to market_usdm.candles_1m_live are
pushed in Binance's kline event form to /fws (and fstream's routed /fws/market) subscribers, never
to spot's /ws; ccxt.pro's binanceusdm watch_ohlcv, its URLs pointed here, gets the live minute."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial

import ccxt.pro as ccxtpro
import orjson
import pytest
import websockets
from psycopg.types.json import Jsonb

from api.config import ApiConfig, load_config
from tests.support.api import LIVE_COLUMNS, RunningApi, running_api
from tests.support.futures import pointed
from tests.support.ws import (
    assert_watched_live_candle,
    cancelled,
    this_minute,
    values,
    writing,
)

pytestmark = pytest.mark.slow  # the clients' own connect and close


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[RunningApi]:
    url = load_config().database_url
    async with running_api(ApiConfig(database_url=url, port=0, markets=("spot", "usdm"))) as api:
        yield api


def write_usdm(conn, minute: datetime, row: tuple) -> None:
    """The streamer's upsert of one open minute of the BTCUSDT perpetual."""
    conn.execute(
        f"insert into market_usdm.candles_1m_live ({LIVE_COLUMNS}) "
        "values ('BTCUSDT', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false) "
        "on conflict (symbol, open_time) do update set close = excluded.close, "
        "volume = excluded.volume, trade_count = excluded.trade_count, updated_at = now()",
        (minute, *row),
    )


async def keep_writing(conn, close: str, minute: datetime, stop: asyncio.Event) -> None:
    """Rewrite the open minute every 0.3 s until the client has it (Binance pushes changes)."""
    volume = 1
    while not stop.is_set():
        write_usdm(conn, minute, values(close, str(volume), volume))
        volume += 1
        await asyncio.sleep(0.3)


async def first_event(url: str, got: list, ready: asyncio.Event) -> None:
    async with websockets.connect(url) as ws:
        ready.set()
        got.append(orjson.loads(await ws.recv()))


async def test_usdm_kline_stream_pushes_its_own_minutes(api, conn) -> None:
    """/fws/ws/<stream> and /fws/market/stream?streams= get the perpetual's minute as the
    streamer writes it; spot's /ws/btcusdt@kline_1m gets nothing of it."""
    minute = this_minute()
    futures: list = []
    routed: list = []
    spot: list = []
    ready = [asyncio.Event() for _ in range(3)]
    readers = [
        asyncio.ensure_future(first_event(f"{api.ws}/fws/ws/btcusdt@kline_1m", futures, ready[0])),
        asyncio.ensure_future(
            first_event(
                f"{api.ws}/fws/market/stream?streams=btcusdt@kline_1m/btcusdt@kline_5m",
                routed,
                ready[1],
            )
        ),
        asyncio.ensure_future(first_event(f"{api.ws}/ws/btcusdt@kline_1m", spot, ready[2])),
    ]
    for event in ready:
        await asyncio.wait_for(event.wait(), 10)
    try:
        async with writing(partial(keep_writing, conn, "93512.5", minute)):
            await asyncio.wait_for(asyncio.gather(*readers[:2]), 20)
            await asyncio.sleep(1.0)  # time enough for a wrong push to spot's stream
    finally:
        await cancelled(readers[2])
    [event] = futures
    assert event["e"] == "kline"
    assert event["s"] == "BTCUSDT"
    k = event["k"]
    assert (k["t"], k["i"], k["x"]) == (int(minute.timestamp() * 1000), "1m", False)
    assert (k["o"], k["h"], k["l"], k["c"]) == (
        "100.00000000",
        "110.00000000",
        "90.00000000",
        "93512.50000000",
    )
    [combined] = routed
    assert combined["stream"] in {"btcusdt@kline_1m", "btcusdt@kline_5m"}
    assert combined["data"]["k"]["c"] == "93512.50000000"
    assert spot == [], "spot's stream pushed the perpetual's minute"


async def test_a_contracts_events_print_its_tick_and_step(database_url: str, conn) -> None:
    """With the contract's exchangeInfo filters held (tickSize "0.10", stepSize "0.001"), its
    kline events print prices at 2 places, quantities at 3 and quote volumes at 5, as fstream
    does (docs/BINANCE.md "Futures"), not spot's 8."""
    filters = [
        {"filterType": "PRICE_FILTER", "minPrice": "0.10", "tickSize": "0.10"},
        {"filterType": "LOT_SIZE", "minQty": "0.001", "stepSize": "0.001"},
    ]
    conn.execute(
        "insert into market_usdm.symbols (symbol, status, base_asset, quote_asset, filters) "
        "values ('BTCUSDT', 'TRADING', 'BTC', 'USDT', %s) on conflict (symbol) do update "
        "set filters = excluded.filters",
        (Jsonb(filters),),
    )
    url = load_config().database_url
    # The push reads the places from the market's symbol list, re-read every symbols_ttl.
    config = ApiConfig(database_url=url, port=0, markets=("spot", "usdm"), symbols_ttl=0.2)
    async with running_api(config) as api:
        await asyncio.sleep(0.5)
        minute, got, ready = this_minute(), [], asyncio.Event()
        reader = asyncio.ensure_future(first_event(f"{api.ws}/fws/ws/btcusdt@kline_1m", got, ready))
        await asyncio.wait_for(ready.wait(), 10)
        async with writing(partial(keep_writing, conn, "93512.5", minute)):
            await asyncio.wait_for(reader, 20)
    [event] = got
    k = event["k"]
    assert (k["o"], k["h"], k["l"], k["c"]) == ("100.00", "110.00", "90.00", "93512.50")
    assert k["v"].endswith(".000")
    assert (k["q"], k["V"], k["Q"]) == ("100.00000", "0.500", "50.00000")


async def test_ccxt_pro_binanceusdm_watch_ohlcv_gets_the_live_candle(api, conn) -> None:
    """ccxt.pro's binanceusdm watch_ohlcv on BTC/USDT:USDT, its REST and WebSocket URLs only
    pointed here, returns the perpetual's live minute."""
    exchange = pointed(ccxtpro.binanceusdm({"enableRateLimit": False}), api.http)
    exchange.urls["api"]["ws"]["future"] = api.ws + "/fws/ws"
    exchange.urls["api"]["ws"]["linear"] = api.ws + "/fws/ws"
    conn.execute(
        "insert into market_usdm.symbols (symbol, status, base_asset, quote_asset) "
        "values ('BTCUSDT', 'TRADING', 'BTC', 'USDT')"
    )
    await assert_watched_live_candle(
        exchange, "BTC/USDT:USDT", 30, partial(keep_writing, conn, "93512.5"), 93512.5
    )


async def test_coinm_kline_stream_pushes_its_own_minutes(database_url: str, conn) -> None:
    """COIN-M's /dws: a write to market_coinm.candles_1m_live of BTCUSD_PERP reaches
    /dws/ws/btcusd_perp@kline_1m, with the contracts and base volume as written; USDⓈ-M's /fws
    gets nothing of it."""
    config = ApiConfig(
        database_url=load_config().database_url, port=0, markets=("spot", "usdm", "coinm")
    )
    minute = this_minute()
    coin: list = []
    usdm: list = []
    ready = [asyncio.Event(), asyncio.Event()]

    async def keep_writing_coinm(stop: asyncio.Event) -> None:
        contracts = 1
        while not stop.is_set():
            conn.execute(
                f"insert into market_coinm.candles_1m_live ({LIVE_COLUMNS}) "
                "values ('BTCUSD_PERP', %s, '93500.1', '93510.0', '93490.2', '93505.5', %s, "
                "%s, %s, %s, %s, false) on conflict (symbol, open_time) do update set "
                "volume = excluded.volume, quote_volume = excluded.quote_volume, "
                "trade_count = excluded.trade_count, updated_at = now()",
                (minute, contracts, "0.00106951", contracts, 0, 0),
            )
            contracts += 1
            await asyncio.sleep(0.3)

    async with running_api(config) as api:
        readers = [
            asyncio.ensure_future(
                first_event(f"{api.ws}/dws/ws/btcusd_perp@kline_1m", coin, ready[0])
            ),
            asyncio.ensure_future(
                first_event(f"{api.ws}/fws/ws/btcusd_perp@kline_1m", usdm, ready[1])
            ),
        ]
        for event in ready:
            await asyncio.wait_for(event.wait(), 10)
        try:
            async with writing(keep_writing_coinm):
                await asyncio.wait_for(readers[0], 20)
                await asyncio.sleep(1.0)  # time enough for a wrong push to USDⓈ-M's stream
        finally:
            await cancelled(readers[1])
    [event] = coin
    assert (event["e"], event["s"]) == ("kline", "BTCUSD_PERP")
    k = event["k"]
    assert (k["t"], k["i"], k["x"]) == (int(minute.timestamp() * 1000), "1m", False)
    assert k["c"].startswith("93505.5")
    assert k["q"].startswith("0.00106951")
    assert usdm == [], "USDⓈ-M's stream pushed a COIN-M minute"


async def test_continuous_kline_stream_carries_the_perpetuals_minute(api, conn) -> None:
    """/fws/ws/btcusdt_perpetual@continuousKline_1m gets the perpetual's minute in Binance's
    continuous_kline form (pair and contract type outside, no symbol inside), beside a plain
    kline subscriber of the same minute; a quarter's continuous stream is refused, and spot's
    /ws has no continuous streams."""
    minute = this_minute()
    continuous: list = []
    plain: list = []
    ready = [asyncio.Event(), asyncio.Event()]
    readers = [
        asyncio.ensure_future(
            first_event(
                f"{api.ws}/fws/ws/btcusdt_perpetual@continuousKline_1m", continuous, ready[0]
            )
        ),
        asyncio.ensure_future(first_event(f"{api.ws}/fws/ws/btcusdt@kline_1m", plain, ready[1])),
    ]
    for event in ready:
        await asyncio.wait_for(event.wait(), 10)
    async with writing(partial(keep_writing, conn, "93512.5", minute)):
        await asyncio.wait_for(asyncio.gather(*readers), 20)
    [event] = continuous
    assert (event["e"], event["ps"], event["ct"]) == ("continuous_kline", "BTCUSDT", "PERPETUAL")
    k = event["k"]
    assert "s" not in k
    assert (k["t"], k["i"], k["c"]) == (int(minute.timestamp() * 1000), "1m", "93512.50000000")
    [kline] = plain
    assert {key: v for key, v in kline["k"].items() if key != "s"}.keys() == k.keys()

    async with websockets.connect(f"{api.ws}/fws/ws") as ws:
        await ws.send(
            orjson.dumps(
                {
                    "method": "SUBSCRIBE",
                    "params": ["btcusdt_current_quarter@continuousKline_1m"],
                    "id": 1,
                }
            ).decode()
        )
        answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    assert answer["error"]["code"] == 2
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(
            f"{api.ws}/stream?streams=btcusdt_perpetual@continuousKline_1m"
        ):
            pass
