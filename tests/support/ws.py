"""Reading Binance's kline stream in tests: one JSON message, the first that matches."""

from __future__ import annotations

import asyncio

import orjson


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
