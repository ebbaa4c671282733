"""The WebSocket session against a server that uses what the protocol allows and Binance does
not: a message in several frames is one message; one past the size limit drops the connection."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from streamer import connection
from streamer.config import StreamerConfig
from streamer.connection import AttemptLimiter, Shard
from streamer.parser import Trade
from tests.support.streamer import wait_until

TRADE = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000123,"s":"BTCUSDT","t":%d,'
    '"p":"93576.12000000","q":"0.00150000","T":1700000000120,"m":false,"M":true}}'
)


class Sink:
    def __init__(self) -> None:
        self.trades: list[Trade] = []
        self.malformed: list[object] = []

    def on_trade(self, trade: Trade, now: float) -> None:
        self.trades.append(trade)

    def on_malformed(self, shard: str, raw: object, error: Exception) -> None:
        self.malformed.append(raw)


async def answer_then(ws: ServerConnection, messages: list[str | list[str]]) -> None:
    """Acknowledge the SUBSCRIBE, send each message (a list: its fragments), stay open until
    the client goes."""
    request = orjson.loads(await ws.recv())
    await ws.send(orjson.dumps({"result": None, "id": request["id"]}).decode())
    for message in messages:
        await ws.send(message)
    await ws.wait_closed()


@contextlib.asynccontextmanager
async def streaming(messages: list[str | list[str]]):
    """A server sending ``messages`` to each connection, and a shard reading it."""
    async with serve(lambda ws: answer_then(ws, messages), "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        config = StreamerConfig(
            database_url="postgresql://127.0.0.1/unused",
            symbols=("BTCUSDT",),
            ws_url=f"ws://127.0.0.1:{port}",
            rest_url=f"http://127.0.0.1:{port}",
            backoff_initial=0.01,
            backoff_max=0.2,
        )
        sink = Sink()
        shard = Shard("s0", config, sink, AttemptLimiter(300, 300))
        shard.add(config.symbols)
        stop = asyncio.Event()
        task = asyncio.ensure_future(shard.run(stop))
        try:
            yield shard, sink
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_a_message_in_several_frames_is_one_trade() -> None:
    first, second = TRADE % 1, TRADE % 2
    thirds = [first[:40], first[40:90], first[90:]]
    async with streaming([thirds, second]) as (shard, sink):
        await wait_until(lambda: len(sink.trades) >= 2, 10, "both trades")
        assert [t.first_id for t in sink.trades] == [1, 2]
        assert sink.trades[0].price == 9357612000000
        assert sink.malformed == []
        assert shard.reconnects == 0


async def test_a_message_over_the_limit_drops_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection, "MAX_MESSAGE", 100)
    big = TRADE % 1
    assert len(big) > 100
    async with streaming([[big[:60], big[60:120], big[120:]]]) as (shard, sink):
        await wait_until(lambda: shard.reconnects >= 2, 10, "the connection dropped, again")
        assert sink.trades == []
