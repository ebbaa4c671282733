"""Reading Binance's kline stream in tests: one JSON message, the first that matches."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import partial

import orjson


def this_minute() -> datetime:
    """The start of the host clock's current minute."""
    now = int(time.time())
    return datetime.fromtimestamp(now - now % 60, UTC)


def values(close: str, volume: str = "1", trades: int = 1) -> tuple:
    """open, high, low, close, volume, quote_volume, trades, taker volumes of a simple candle."""
    return ("100", "110", "90", close, volume, "100", trades, "0.5", "50")


async def recv_json(ws, within: float = 10.0) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), within))


async def until(ws, predicate, within: float = 10.0) -> dict:
    """The first message that satisfies ``predicate``."""
    async with asyncio.timeout(within):
        while True:
            msg = await recv_json(ws, within)
            if predicate(msg):
                return msg


@contextlib.asynccontextmanager
async def writing(keep_writing: Callable[[asyncio.Event], Awaitable[None]]) -> AsyncIterator[None]:
    """Run ``keep_writing(stop)`` through the block, then stop it and wait for its end."""
    stop = asyncio.Event()
    writer = asyncio.ensure_future(keep_writing(stop))
    try:
        yield
    finally:
        stop.set()
        await writer


async def cancelled(task: asyncio.Future) -> None:
    """Cancel ``task`` (a reader that should have got nothing) and wait for its end."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def assert_watched_live_candle(
    exchange,
    symbol: str,
    within: float,
    keep_writing: Callable[[datetime, asyncio.Event], Awaitable[None]],
    close: float,
) -> None:
    """Assert ccxt.pro's watch_ohlcv of ``symbol`` (then closed) returns this minute at
    ``close``, while ``keep_writing(minute, stop)`` rewrites it until stopped."""
    minute = this_minute()
    try:
        async with writing(partial(keep_writing, minute)):
            candles = await asyncio.wait_for(exchange.watch_ohlcv(symbol, "1m"), within)
    finally:
        await exchange.close()
    assert candles[-1][0] == int(minute.timestamp() * 1000)
    assert candles[-1][1:5] == [100.0, 110.0, 90.0, close]
