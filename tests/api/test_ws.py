"""Binance's kline stream protocol over WebSocket, fed from PostgreSQL NOTIFY."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from api.config import ApiConfig, load_config
from tests.support.api import listener_lost, running_api, write_live
from tests.support.ws import recv_json, until, values

HOUR = datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


async def drain(ws) -> None:
    """Read until the server closes the connection."""
    async with asyncio.timeout(10):
        while True:
            await ws.recv()


def frame(payload: object) -> str:
    """A text frame, as clients send them."""
    return orjson.dumps(payload).decode()


async def test_subscribe_list_unsubscribe_with_ids(api) -> None:
    """Requests are answered with their ids; LIST_SUBSCRIPTIONS reflects the changes."""
    async with websockets.connect(f"{api.ws}/ws") as ws:
        await ws.send(
            '{"method":"SUBSCRIBE","params":["btcusdt@kline_1m","ethusdt@kline_1w"],"id":1}'
        )
        assert await recv_json(ws) == {"result": None, "id": 1}
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":"two"}')
        reply = await recv_json(ws)
        assert reply["id"] == "two"
        assert sorted(reply["result"]) == ["btcusdt@kline_1m", "ethusdt@kline_1w"]
        await asyncio.sleep(1.1)  # stay under 5 messages a second
        await ws.send('{"method":"UNSUBSCRIBE","params":["btcusdt@kline_1m"],"id":3}')
        assert await recv_json(ws) == {"result": None, "id": 3}
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":4}')
        assert await recv_json(ws) == {"result": ["ethusdt@kline_1w"], "id": 4}


async def test_malformed_requests_get_error_frames(api) -> None:
    """Bad JSON, a bad stream name and an unknown method each get Binance's error frame."""
    async with websockets.connect(f"{api.ws}/ws") as ws:
        await ws.send("{not json")
        assert (await recv_json(ws))["error"]["code"] == 3
        await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@kline_2m"],"id":7}')
        reply = await recv_json(ws)
        assert reply["id"] == 7
        assert reply["error"]["code"] == 2
        await ws.send(
            '{"method":"SUBSCRIBE","params":["x\'; drop table market.klines_1m;--"],"id":8}'
        )
        assert (await recv_json(ws))["error"]["code"] == 2
        await ws.send('{"method":"FLY","id":9}')
        assert (await recv_json(ws))["error"]["code"] == 2


async def test_more_than_1024_streams_is_refused(api) -> None:
    """A SUBSCRIBE past 1024 streams gets an error frame and the connection is closed."""
    names = [f"s{i}usdt@kline_1m" for i in range(1025)]
    async with websockets.connect(f"{api.ws}/ws", max_size=None) as ws:
        await ws.send(frame({"method": "SUBSCRIBE", "params": names[:1024], "id": 1}))
        assert await recv_json(ws) == {"result": None, "id": 1}
        await ws.send(frame({"method": "SUBSCRIBE", "params": names[1024:], "id": 2}))
        reply = await recv_json(ws)
        assert reply["id"] == 2
        assert reply["error"]["code"] == 2
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
        assert closed.value.rcvd.code == 1008


async def test_more_than_5_messages_a_second_disconnects(api) -> None:
    """The sixth message within a second closes the connection (policy violation)."""
    async with websockets.connect(f"{api.ws}/ws") as ws:
        for i in range(6):
            await ws.send(frame({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
        assert closed.value.rcvd.code == 1008


async def test_push_resumes_after_the_listener_loses_the_database(database_url, api, conn) -> None:
    """The listener's connection is killed and the database refuses new ones for a while: a
    minute that closed meanwhile is still pushed closed once the listener is back, and later
    writes are pushed live again (a database restart does not cost a subscriber a candle)."""
    minute_ms = int(HOUR.timestamp() * 1000)
    async with websockets.connect(
        f"{api.ws}/stream?streams=btcusdt@kline_1m/btcusdt@kline_1h"
    ) as ws:
        write_live(conn, "BTCUSDT", HOUR, values("101"), False)
        await until(
            ws, lambda m: m["data"]["k"]["i"] == "1h" and m["data"]["k"]["c"].startswith("101")
        )
        async with listener_lost(database_url, conn, api.api.hub):
            write_live(conn, "BTCUSDT", HOUR, values("102", "2", 2), True)
            # Long over by the wall clock, still open in the table: the catch-up must push it
            # open (a wall-clock rule would close it).
            write_live(conn, "BTCUSDT", HOUR + timedelta(minutes=1), values("106"), False)
            await asyncio.sleep(1.0)
        closed = await until(
            ws, lambda m: m["data"]["k"]["c"] == "102.00000000" and m["data"]["k"]["i"] == "1m"
        )
        assert (closed["data"]["k"]["t"], closed["data"]["k"]["n"], closed["data"]["k"]["x"]) == (
            minute_ms,
            2,
            True,
        )
        still_open = await until(
            ws, lambda m: m["data"]["k"]["c"] == "106.00000000" and m["data"]["k"]["i"] == "1m"
        )
        assert (still_open["data"]["k"]["t"], still_open["data"]["k"]["x"]) == (
            minute_ms + 60_000,
            False,
        )
        hour = await until(
            ws, lambda m: m["data"]["k"]["i"] == "1h" and m["data"]["k"]["c"] == "106.00000000"
        )
        assert (hour["data"]["k"]["n"], hour["data"]["k"]["x"]) == (3, False)
        write_live(conn, "BTCUSDT", HOUR + timedelta(minutes=1), values("103"), False)
        live = await until(ws, lambda m: m["data"]["k"]["c"] == "103.00000000")
        assert live["data"]["k"]["t"] == minute_ms + 60_000


async def test_live_candles_are_pushed_raw_and_combined_to_every_api_process(
    database_url, api, conn
) -> None:
    """Streamer writes reach two API processes; 1m and 1h events, k.x once closed, raw and
    combined forms, and a closed minute corrected by an official kline is pushed again."""
    async with (
        running_api(ApiConfig(database_url=database_url, port=0)) as other,
        websockets.connect(f"{api.ws}/ws/btcusdt@kline_1m") as raw,
        websockets.connect(f"{other.ws}/stream?streams=btcusdt@kline_1m/btcusdt@kline_1h") as comb,
    ):
        minute = HOUR + timedelta(minutes=59)
        write_live(conn, "BTCUSDT", HOUR, values("101"), True)
        write_live(conn, "BTCUSDT", minute, values("105"), False)
        first = await until(raw, lambda m: m["k"]["t"] == int(minute.timestamp() * 1000))
        assert first["e"] == "kline"
        assert first["s"] == "BTCUSDT"
        k = first["k"]
        assert (k["i"], k["o"], k["c"], k["n"], k["x"]) == (
            "1m",
            "100.00000000",
            "105.00000000",
            1,
            False,
        )
        assert k["T"] == k["t"] + 59_999
        assert k["B"] == "0"

        hour = await until(comb, lambda m: m["stream"] == "btcusdt@kline_1h")
        assert hour["data"]["k"]["t"] == int(HOUR.timestamp() * 1000)
        assert hour["data"]["k"]["v"] == "2.00000000"
        assert hour["data"]["k"]["x"] is False

        write_live(conn, "BTCUSDT", minute, values("106", "2", 2), True)
        closed = await until(raw, lambda m: m["k"]["x"])
        assert (closed["k"]["c"], closed["k"]["v"], closed["k"]["n"]) == (
            "106.00000000",
            "2.00000000",
            2,
        )
        hour = await until(
            comb, lambda m: m["stream"] == "btcusdt@kline_1h" and m["data"]["k"]["x"]
        )
        assert hour["data"]["k"]["v"] == "3.00000000"
        assert hour["data"]["k"]["c"] == "106.00000000"

        # The official kline differs from the live candle: the correction goes out again.
        conn.execute(
            "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, "
            "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source) "
            "values ('BTCUSDT', %s, 100, 110, 90, 107, 2.5, 100, 3, 0.5, 50, 'rest')",
            (minute,),
        )
        fixed = await until(raw, lambda m: m["k"]["c"] == "107.00000000")
        assert (fixed["k"]["x"], fixed["k"]["v"], fixed["k"]["n"]) == (True, "2.50000000", 3)
        hour = await until(
            comb,
            lambda m: m["stream"] == "btcusdt@kline_1h" and m["data"]["k"]["c"] == "107.00000000",
        )
        assert hour["data"]["k"]["v"] == "3.50000000"
        assert hour["data"]["k"]["x"] is True


@pytest.mark.slow
async def test_streamer_pushes_closed_candles_equal_to_official_klines(database_url, api) -> None:
    """The streamer on the fake exchange: closed kline_1m events equal the official klines."""
    from fakebinance.clock import MarketClock
    from fakebinance.server import FakeBinance
    from tests.support.streamer import market_config, running, streamer_config

    clock = MarketClock(start=datetime(2025, 3, 3, 12, 0, 0, tzinfo=UTC), speed=20.0)
    async with (
        FakeBinance(market_config(), clock=clock, tick_interval=0.02) as fake,
        websockets.connect(f"{api.ws}/stream?streams=btcusdt@kline_1m/pepeusdt@kline_1m") as ws,
    ):
        config = streamer_config(fake, database_url, symbols=("BTCUSDT", "PEPEUSDT"))
        closed: dict[tuple[str, int], dict] = {}
        async with running(config, fake):
            async with asyncio.timeout(60):
                while len({s for s, _ in closed}) < 2 or len(closed) < 4:
                    msg = await recv_json(ws, 30)
                    k = msg["data"]["k"]
                    if k["x"]:
                        closed[(k["s"], k["t"])] = k
        for (symbol, open_ms), k in closed.items():
            (official,) = fake.market.klines(symbol, "1m", open_ms, open_ms, 1)
            row = official.to_rest_row()
            assert [
                k["t"],
                k["o"],
                k["h"],
                k["l"],
                k["c"],
                k["v"],
                k["T"],
                k["q"],
                k["n"],
                k["V"],
                k["Q"],
            ] == row[:11]
            assert k["f"] >= 0
            assert k["L"] - k["f"] + 1 == k["n"]


async def test_intervals_rolled_up_on_read_are_pushed_like_stored_ones(api, conn) -> None:
    """2h and 1M have no mart: their events roll up every minute held, close with the 2h
    candle's last minute (k.T the next open - 1 ms: 1M's is the month's end), and a month's
    candle stays open."""
    two_hours = HOUR  # 10:00 is a 2h boundary
    month = datetime(2025, 5, 1, tzinfo=UTC)
    june = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)
    last = two_hours + timedelta(minutes=119)
    async with websockets.connect(
        f"{api.ws}/stream?streams=btcusdt@kline_2h/btcusdt@kline_1M"
    ) as ws:
        write_live(conn, "BTCUSDT", two_hours, values("101"), True)
        write_live(conn, "BTCUSDT", last, values("104", "3", 2), False)
        event = await until(
            ws,
            lambda m: m["stream"] == "btcusdt@kline_2h" and m["data"]["k"]["c"] == "104.00000000",
        )
        k = event["data"]["k"]
        assert (k["i"], k["t"], k["T"]) == (
            "2h",
            int(two_hours.timestamp() * 1000),
            int(two_hours.timestamp() * 1000) + 7_200_000 - 1,
        )
        assert (k["o"], k["v"], k["n"], k["x"]) == ("100.00000000", "4.00000000", 3, False)
        monthly = await until(
            ws, lambda m: m["stream"] == "btcusdt@kline_1M" and m["data"]["k"]["n"] == 3
        )
        mk = monthly["data"]["k"]
        assert (mk["i"], mk["t"], mk["T"], mk["x"]) == (
            "1M",
            int(month.timestamp() * 1000),
            june - 1,
            False,
        )
        write_live(conn, "BTCUSDT", last, values("105", "3", 2), True)
        closed = await until(
            ws, lambda m: m["stream"] == "btcusdt@kline_2h" and m["data"]["k"]["x"]
        )
        assert closed["data"]["k"]["c"] == "105.00000000"


async def test_kline_streams_at_utc_plus_8_open_on_its_days(api, conn) -> None:
    """btcusdt@kline_1d@+08:00: the day opens at 16:00 UTC the day before (k.t), closes 24 h on
    (k.T), k.i is 1d; the UTC stream beside it keeps UTC's day."""
    minute = datetime(2025, 7, 8, 17, 0, tzinfo=UTC)  # 01:00 on the 9th at UTC+8
    local_day = int(datetime(2025, 7, 8, 16, 0, tzinfo=UTC).timestamp() * 1000)
    utc_day = int(datetime(2025, 7, 8, tzinfo=UTC).timestamp() * 1000)
    async with websockets.connect(f"{api.ws}/ws") as ws:
        await ws.send(
            frame(
                {
                    "method": "SUBSCRIBE",
                    "params": ["btcusdt@kline_1d@+08:00", "btcusdt@kline_1d"],
                    "id": 1,
                }
            )
        )
        assert await recv_json(ws) == {"result": None, "id": 1}
        write_live(conn, "BTCUSDT", minute, values("103"), False)
        zoned = await until(ws, lambda m: m["k"]["t"] == local_day)
        assert (zoned["k"]["i"], zoned["k"]["T"]) == ("1d", local_day + 86_400_000 - 1)
        assert zoned["k"]["c"] == "103.00000000"
        plain = await until(ws, lambda m: m["k"]["t"] == utc_day)
        assert plain["k"]["T"] == utc_day + 86_400_000 - 1


async def test_3d_streams_run_on_the_symbols_own_grid(api, conn) -> None:
    """btcusdt@kline_3d: candles every three days from the symbol's first day of trading
    (market.symbols.first_day, 2017-08-17 for BTCUSDT: 2025-07-06 opens one), not the epoch's
    (2025-07-08); a symbol whose first day is not known gets no 3d event, its 1d ones still."""
    conn.execute(
        "insert into market.symbols (symbol, status, first_day) values "
        "('BTCUSDT', 'TRADING', '2017-08-17'), ('ETHUSDT', 'TRADING', null) "
        "on conflict (symbol) do update set first_day = excluded.first_day"
    )
    await api.api.symbols.refresh()
    minute = datetime(2025, 7, 8, 17, 0, tzinfo=UTC)
    grid = int(datetime(2025, 7, 6, tzinfo=UTC).timestamp() * 1000)
    async with websockets.connect(
        f"{api.ws}/stream?streams=btcusdt@kline_3d/ethusdt@kline_3d/ethusdt@kline_1d"
    ) as ws:
        write_live(conn, "BTCUSDT", minute, values("103"), False)
        write_live(conn, "ETHUSDT", minute, values("7"), False)
        seen = []
        event = await until(
            ws, lambda m: seen.append(m["stream"]) or m["stream"] == "btcusdt@kline_3d"
        )
        k = event["data"]["k"]
        assert (k["i"], k["t"], k["T"], k["c"]) == (
            "3d",
            grid,
            grid + 3 * 86_400_000 - 1,
            "103.00000000",
        )
        await until(ws, lambda m: seen.append(m["stream"]) or m["stream"] == "ethusdt@kline_1d")
        assert "ethusdt@kline_3d" not in seen


async def test_a_first_day_recorded_after_subscribing_reaches_the_3d_push(database_url, conn):
    """A WebSocket-only client subscribed to a 3d stream before the backfill recorded the
    symbol's first day gets 3d events once the API's symbol list is re-read on its own (no
    REST request refreshes it for the push)."""
    conn.execute(
        "insert into market.symbols (symbol, status, first_day) values ('BTCUSDT', 'TRADING', "
        "null) on conflict (symbol) do update set first_day = null"
    )
    url = load_config().database_url
    minute = datetime(2025, 7, 8, 17, 0, tzinfo=UTC)
    grid = int(datetime(2025, 7, 6, tzinfo=UTC).timestamp() * 1000)
    config = ApiConfig(database_url=url, port=0, symbols_ttl=1.0)
    async with (
        running_api(config) as api,
        websockets.connect(f"{api.ws}/ws/btcusdt@kline_3d/btcusdt@kline_1d") as ws,
    ):
        write_live(conn, "BTCUSDT", minute, values("103"), False)
        seen = []
        await until(ws, lambda m: seen.append(m["k"]["i"]) or m["k"]["i"] == "1d")
        assert "3d" not in seen  # no grid yet: no 3d event
        conn.execute("update market.symbols set first_day = '2017-08-17' where symbol = 'BTCUSDT'")
        await asyncio.sleep(2.5)  # two of the list's re-reads, no request in between
        write_live(conn, "BTCUSDT", minute, values("104"), False)
        event = await until(ws, lambda m: m["k"]["i"] == "3d")
        assert (event["k"]["t"], event["k"]["c"]) == (grid, "104.00000000")
