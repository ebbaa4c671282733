"""WebSocket feed of the fake: streams match REST, live subscriptions, limits and faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
import pytest_asyncio
import websockets

from fakebinance.clock import MarketClock
from fakebinance.server import FakeBinance

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]
SPEED = 60.0


@pytest_asyncio.fixture
async def live(config, now) -> AsyncIterator[FakeBinance]:
    """A fake whose clock runs 60x (one market minute per second) with small WS limits."""
    clock = MarketClock(start=now, speed=SPEED)
    async with FakeBinance(
        config, clock=clock, max_streams_per_connection=4, max_connection_attempts=(50, 60)
    ) as server:
        yield server


async def collect(ws, seconds: float) -> list[dict]:
    """All JSON messages received within ``seconds``."""
    out = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        out.append(orjson.loads(msg.data))
    return out


async def rest(session, fake, path, **params):
    async with session.get(f"{fake.url}{path}", params={k: str(v) for k, v in params.items()}) as r:
        assert r.status == 200
        return await r.json()


async def test_combined_stream_matches_rest(live, session):
    """trade and aggTrade messages equal REST historicalTrades/aggTrades, ids contiguous."""
    subscribed_ms = live.clock.now_ms()
    url = f"{live.url}/stream?streams=btcusdt@trade/btcusdt@aggTrade"
    async with session.ws_connect(url) as ws:
        msgs = await collect(ws, 2.5)
    trades = [m["data"] for m in msgs if m["stream"] == "btcusdt@trade"]
    aggs = [m["data"] for m in msgs if m["stream"] == "btcusdt@aggTrade"]
    assert len(trades) > 20
    assert len(aggs) > 10
    assert [t["t"] for t in trades] == list(range(trades[0]["t"], trades[0]["t"] + len(trades)))
    assert trades[0]["T"] >= subscribed_ms
    assert all(t["E"] >= t["T"] and t["M"] is True and t["s"] == "BTCUSDT" for t in trades)
    hist = await rest(
        session,
        live,
        "/api/v3/historicalTrades",
        symbol="BTCUSDT",
        fromId=trades[0]["t"],
        limit=len(trades),
    )
    assert [(h["id"], h["price"], h["qty"], h["time"], h["isBuyerMaker"]) for h in hist] == [
        (t["t"], t["p"], t["q"], t["T"], t["m"]) for t in trades
    ]
    rest_aggs = await rest(
        session, live, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=aggs[0]["a"], limit=len(aggs)
    )
    assert rest_aggs == [{k: v for k, v in a.items() if k not in ("e", "E", "s")} for a in aggs]


async def test_raw_stream_is_unwrapped(live, session):
    """/ws/<stream> delivers bare payloads."""
    async with session.ws_connect(f"{live.url}/ws/ethusdt@trade") as ws:
        msgs = await collect(ws, 1.5)
    assert msgs
    assert all(m["e"] == "trade" and m["s"] == "ETHUSDT" for m in msgs)


async def test_subscribe_list_unsubscribe(live, session):
    """Live SUBSCRIBE / LIST_SUBSCRIPTIONS / UNSUBSCRIBE are answered and take effect."""
    async with session.ws_connect(f"{live.url}/ws") as ws:
        await ws.send_str(
            '{"method":"SUBSCRIBE","params":["btcusdt@trade","pepeusdt@aggTrade"],"id":1}'
        )
        first = await collect(ws, 1.2)
        assert first[0] == {"result": None, "id": 1}
        assert {m["e"] for m in first[1:]} == {"trade", "aggTrade"}
        await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":2}')
        await ws.send_str('{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":3}')
        rest_msgs = await collect(ws, 1.2)
    replies = [m for m in rest_msgs if "id" in m]
    assert replies == [
        {"result": ["btcusdt@trade", "pepeusdt@aggTrade"], "id": 2},
        {"result": None, "id": 3},
    ]
    after = rest_msgs[rest_msgs.index({"result": None, "id": 3}) + 1 :]
    assert after
    assert all(m["e"] == "aggTrade" for m in after)


async def test_websockets_client_with_ws_scheme(live):
    """The `websockets` library connects with ws:// to the same host and port."""
    async with websockets.connect(f"{live.ws_url}/stream?streams=pepeusdt@trade") as ws:
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    assert msg["stream"] == "pepeusdt@trade"
    assert msg["data"]["p"].startswith("0.0000")


async def test_incoming_message_rate_limit(live, session):
    """More than 5 incoming messages in a second closes the connection."""
    async with session.ws_connect(f"{live.url}/ws") as ws:
        for i in range(6):
            await ws.send_str(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
        while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            pass
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1008
    assert live.stats()["closed_rate"] == 1


async def test_stream_count_limit(live, session):
    """Going past max streams per connection gets an error and a close; URLs get HTTP 400."""
    async with session.ws_connect(f"{live.url}/ws/btcusdt@trade/ethusdt@trade") as ws:
        params = ["pepeusdt@trade", "quietusdt@trade", "haltusdt@trade"]
        await ws.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": params, "id": 7}).decode())
        texts = []
        while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            texts.append(orjson.loads(msg.data))
        errors = [m for m in texts if "error" in m]
        assert errors[0]["id"] == 7
        assert ws.close_code == 1008
    names = "/".join(f"sym{i}usdt@trade" for i in range(5))
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await session.ws_connect(f"{live.url}/ws/{names}")
    assert exc.value.status == 400


async def test_connection_attempts_limit(config, now, session):
    """Handshakes beyond the per-IP attempt budget are refused with HTTP 429."""
    clock = MarketClock(start=now, speed=SPEED)
    async with FakeBinance(config, clock=clock, max_connection_attempts=(3, 60)) as fake:
        for _ in range(3):
            ws = await session.ws_connect(f"{fake.url}/ws")
            await ws.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await session.ws_connect(f"{fake.url}/ws")
        assert exc.value.status == 429


async def test_server_pings_and_drops_silent_clients(config, now, session):
    """The server pings; a client that never pongs is dropped after the pong timeout."""
    clock = MarketClock(start=now, speed=SPEED)
    # A timeout several seconds long: the polite client's pong and the server's check share one
    # event loop, which a loaded machine can stall for longer than a fraction of a second.
    async with FakeBinance(config, clock=clock, ws_ping_interval=0.3, ws_pong_timeout=3.0) as fake:
        polite = await session.ws_connect(f"{fake.url}/ws")
        # aiohttp answers pings inside receive(), so the polite client keeps reading.
        reading = asyncio.get_running_loop().create_task(collect(polite, 30))
        silent = await session.ws_connect(f"{fake.url}/ws", autoping=False)
        pings = 0
        while (msg := await silent.receive(timeout=5)).type == aiohttp.WSMsgType.PING:
            pings += 1
        assert pings >= 2
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await asyncio.sleep(0.5)
        assert not polite.closed
        assert fake.stats()["closed_pong"] == 1
        reading.cancel()
        await polite.close()


async def test_fault_drop_connections(live, session):
    """drop_connections cuts every socket without a close handshake."""
    async with session.ws_connect(f"{live.url}/ws/btcusdt@trade") as ws:
        await collect(ws, 0.3)
        assert live.drop_connections() == 1
        while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            pass
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert ws.close_code != 1000


async def test_fault_stall_loses_trades(live, session):
    """During a stall nothing arrives and the trades of that period are never sent.

    Frames of trades made before the stall may still be on their way (sent, or queued for the
    socket): they are told apart by their trade time, not by when they arrive."""
    async with session.ws_connect(f"{live.url}/ws/btcusdt@trade") as ws:
        before = await collect(ws, 1.0)
        t0 = time.monotonic()
        stalled_at = live.clock.now_ms()
        live.stall(1.5)
        while True:
            first_after = orjson.loads((await ws.receive(timeout=10)).data)
            if first_after["T"] > stalled_at:
                break
            before.append(first_after)
        waited = time.monotonic() - t0
    assert waited >= 1.5
    # The 1.5 market minutes of BTC trades in the stall are gone: the ids jump.
    assert first_after["T"] > stalled_at + 1.5 * SPEED * 1000
    assert first_after["t"] - before[-1]["t"] > 20


async def test_fault_send_malformed(live, session):
    """send_malformed makes the next frame the given raw text (over HTTP as well)."""
    async with session.ws_connect(f"{live.url}/ws/btcusdt@trade") as ws:
        await collect(ws, 0.3)
        async with session.post(
            f"{live.url}/fake/faults/send_malformed", params={"text": "{broken"}
        ) as r:
            assert r.status == 200
        texts = []
        for _ in range(200):
            texts.append((await ws.receive(timeout=5)).data)
            if texts[-1] == "{broken":
                break
    assert texts[-1] == "{broken"


async def test_fault_refuse_connections(live, session):
    """refuse_connections makes handshakes fail for a while, and only for that while."""
    # Long enough that the handshake below meets it however loaded the machine.
    live.refuse_connections(600)
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await session.ws_connect(f"{live.url}/ws")
    assert exc.value.status == 503
    # A short refusal is over once its time passed (load only makes the sleep longer).
    live.refuse_connections(0.5)
    await asyncio.sleep(0.6)
    ws = await session.ws_connect(f"{live.url}/ws")
    await ws.close()
    assert live.stats()["refused"] == 1


async def test_fault_max_connection_age(live, session):
    """set_max_connection_age cuts connections older than the new age, those already open too:
    the server closes it (1000, max connection age) after it has lived that long."""
    asked = time.monotonic()  # before the server opens it: the age runs from later
    async with session.ws_connect(f"{live.url}/ws/btcusdt@trade") as ws:
        async with session.post(
            f"{live.url}/fake/faults/set_max_connection_age", params={"seconds": "0.5"}
        ) as r:
            assert r.status == 200
        # The feed never ends by itself: without the cut, the timeout fails the test.
        async with asyncio.timeout(60):
            while (msg := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
                pass
        assert time.monotonic() - asked >= 0.5, "not cut before its age"
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 1000
    assert live.stats()["closed_age"] == 1


async def test_fault_server_shutdown(live, session):
    """server_shutdown sends the serverShutdown event, then closes."""
    async with session.ws_connect(f"{live.url}/ws/btcusdt@trade") as ws:
        await collect(ws, 0.3)
        live.server_shutdown()
        texts = []
        while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            texts.append(orjson.loads(msg.data))
    assert texts[-1]["e"] == "serverShutdown"
    assert isinstance(texts[-1]["E"], int)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
