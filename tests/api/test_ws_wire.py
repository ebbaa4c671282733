"""Live frames written straight to each client's connection (api/wire.py): in order, bare and
combined, and a client that stops reading still cut off as too slow while the others get
every frame."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from api.config import ApiConfig, load_config
from api.push.event import CandleEvent
from api.ws import POLICY_VIOLATION, WsConnection
from tests.support.api import running_api

STREAM = "btcusdt@kline_1m"
OPEN_MS = 1_746_439_200_000  # 2025-05-05 10:00 UTC
EVENTS = 3_000
# Enough to fill a stalled client's connection: the kernel's send buffer may grow to 4 MB.
STALL_EVENTS = 20_000


def candle(i: int) -> CandleEvent:
    """Event ``i``: its number in the close (a wide value: the frames barely compress)."""
    close = f"{i}.{i * 7919 % 100_000_000:08d}"
    row = (OPEN_MS, "100.0", "110.0", "90.0", close, "1.5", "150.0", i, "0.5", "50.0")
    return CandleEvent("BTCUSDT", "1m", row, False, OPEN_MS + i)


def number(frame: str | bytes) -> int:
    message = orjson.loads(frame)
    return int(message.get("data", message)["k"]["c"].split(".")[0])


async def read_all(ws, last: int) -> list[int]:
    """Every event number received until ``last``."""
    got: list[int] = []
    async with asyncio.timeout(60):
        while not got or got[-1] != last:
            got.append(number(await ws.recv()))
    return got


async def read_until_closed(ws, got: list[int]) -> None:
    """Append every event number received to ``got`` until the server closes."""
    async with asyncio.timeout(30):
        while True:
            got.append(number(await ws.recv()))


async def subscribed(hub, count: int) -> list[WsConnection]:
    """The WebSocket subscribers of STREAM, once ``count`` have subscribed."""
    async with asyncio.timeout(10):
        while len(hub.streams.get(STREAM, ())) < count:  # noqa: ASYNC110 (the hub has no event)
            await asyncio.sleep(0.01)
    return list(hub.streams[STREAM])


async def test_frames_go_to_the_wire_in_order_bare_and_combined(database_url) -> None:
    """Under uvicorn every client has a wire; thousands of events published back to back reach
    a bare and a combined client each in order, none missing."""
    config = ApiConfig(database_url=load_config().database_url, port=0)
    async with running_api(config) as api:
        hub = api.api.hub
        async with (
            websockets.connect(f"{api.ws}/ws/{STREAM}", max_queue=None) as bare,
            websockets.connect(f"{api.ws}/stream?streams={STREAM}", max_queue=None) as combined,
        ):
            conns = await subscribed(hub, 2)
            assert all(c.wire is not None for c in conns)
            for i in range(EVENTS):
                hub.publish(STREAM, candle(i))
                if i % 100 == 0:
                    await asyncio.sleep(0)
            expected = list(range(EVENTS))
            assert await read_all(bare, EVENTS - 1) == expected
            assert await read_all(combined, EVENTS - 1) == expected


async def test_a_client_that_stops_reading_is_cut_and_the_others_get_every_frame(
    database_url,
) -> None:
    """A client that reads nothing fills its connection; then its frames queue, and past the
    queue's cap it is closed with 1008 "Too slow", having got a gapless first part; a client
    that reads gets every frame."""
    config = ApiConfig(database_url=load_config().database_url, port=0, max_queued_frames=200)
    async with running_api(config) as api:
        hub = api.api.hub
        url = urlsplit(api.ws)
        # Small kernel buffers, so the connection is full after a few hundred frames.
        sock = socket.create_connection((url.hostname, url.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        async with (
            websockets.connect(f"{api.ws}/ws/{STREAM}", max_queue=None) as reader,
            websockets.connect(
                f"{api.ws}/ws/{STREAM}", sock=sock, max_queue=1, compression=None
            ) as stalled,
        ):
            conns = await subscribed(hub, 2)
            stalled_conn = next(c for c in conns if c.ws.client[1] == sock.getsockname()[1])
            for i in range(STALL_EVENTS):
                hub.publish(STREAM, candle(i))
                if i % 50 == 0:
                    await asyncio.sleep(0.002)
            assert stalled_conn not in hub.streams.get(STREAM, ())
            assert await read_all(reader, STALL_EVENTS - 1) == list(range(STALL_EVENTS))
            got: list[int] = []
            with pytest.raises(ConnectionClosed) as closed:
                await read_until_closed(stalled, got)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                POLICY_VIOLATION,
                "Too slow",
            )
            assert 0 < len(got) < STALL_EVENTS
            assert got == list(range(len(got)))
