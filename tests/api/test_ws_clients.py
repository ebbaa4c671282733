"""Binance's own WebSocket clients on our kline push, unchanged but for the base URL:
ccxt.pro's watch_ohlcv (it opens /ws/<connection number>, then subscribes) and python-binance's
socket manager (/ws/<stream>)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import partial

import ccxt.pro as ccxtpro
import pytest
from binance import AsyncClient, BinanceSocketManager

from tests.support.api import write_live
from tests.support.ws import assert_watched_live_candle, this_minute, values, writing

pytestmark = pytest.mark.slow  # about ten seconds each (the clients' own connect and close)


async def keep_writing(conn, close: str, minute: datetime, stop: asyncio.Event) -> None:
    """The streamer's upsert of one open minute, again every 0.3 s until the client has it (a
    client subscribes some time after it connects; Binance pushes only changes)."""
    volume = 1
    while not stop.is_set():
        write_live(conn, "BTCUSDT", minute, values(close, str(volume), volume), False)
        volume += 1
        await asyncio.sleep(0.3)


async def test_ccxt_pro_watch_ohlcv_gets_the_live_candle(api, conn) -> None:
    """ccxt.pro 4.5.90's watch_ohlcv, only its URLs pointed here, returns the live minute."""
    conn.execute(
        "insert into market.symbols (symbol, status, base_asset, quote_asset) "
        "values ('BTCUSDT', 'TRADING', 'BTC', 'USDT')"
    )
    exchange = ccxtpro.binance({"options": {"fetchMarkets": {"types": ["spot"]}}})
    exchange.urls["api"]["public"] = api.http + "/api/v3"
    exchange.urls["api"]["ws"]["spot"] = api.ws + "/ws"
    await assert_watched_live_candle(
        exchange, "BTC/USDT", 20, partial(keep_writing, conn, "105.5"), 105.5
    )


async def test_python_binance_kline_socket_gets_the_live_candle(api, conn) -> None:
    """python-binance's BinanceSocketManager.kline_socket, STREAM_URL pointed here, receives
    Binance's kline event with exact decimal strings."""
    client = AsyncClient()  # the constructor asks nothing (AsyncClient.create() would ping)
    manager = BinanceSocketManager(client)
    manager.STREAM_URL = api.ws + "/"
    minute = this_minute()
    try:
        async with (
            manager.kline_socket("BTCUSDT", AsyncClient.KLINE_INTERVAL_1MINUTE) as stream,
            writing(partial(keep_writing, conn, "104.25", minute)),
        ):
            event = await asyncio.wait_for(stream.recv(), 20)
    finally:
        await client.close_connection()
    assert event["e"] == "kline"
    assert event["s"] == "BTCUSDT"
    k = event["k"]
    assert (k["t"], k["i"], k["o"], k["c"], k["x"]) == (
        int(minute.timestamp() * 1000),
        "1m",
        "100.00000000",
        "104.25000000",
        False,
    )
