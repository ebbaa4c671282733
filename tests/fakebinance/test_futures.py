"""The fake's USDⓈ-M futures on /fapi/v1: the contracts' own klines at their precision, the
futures' weights in a pool of their own, mark/index/premium klines that roll up, funding by
Binance's formula, and ccxt's binanceusdm reading all of it unchanged but for its URLs."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import ccxt.async_support as ccxt
import pytest
import pytest_asyncio

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig
from fakebinance.futures import SEED_OFFSET, default_contracts, kline_weight
from fakebinance.futures.dumps import KLINE_HEADER
from fakebinance.futures.prices import CAP, CLAMP, INTEREST
from fakebinance.market import Market
from fakebinance.ratelimit import WeightLimiter
from fakebinance.server import FakeBinance
from tests.support.fakebinance import NOW

NOW_MS = int(NOW.timestamp() * 1000)
HOUR_MS = 3_600_000
FUNDING_MS = 8 * HOUR_MS


def usdm_config(seed: int = 42) -> MarketConfig:
    return MarketConfig(seed + SEED_OFFSET, default_contracts())


@pytest_asyncio.fixture
async def fake(config: MarketConfig, frozen_clock: MarketClock) -> AsyncIterator[FakeBinance]:
    """The fake with its USDⓈ-M contracts, whose weight windows do not move during a test."""
    async with FakeBinance(config, clock=frozen_clock, usdm_config=usdm_config()) as server:
        assert server.usdm is not None
        server.usdm.limiter = WeightLimiter(2400, 60, now=lambda: 1_000_000.0)
        yield server


async def get(session: aiohttp.ClientSession, fake: FakeBinance, path: str, **params):
    async with session.get(f"{fake.url}{path}", params=params) as r:
        return r.status, dict(r.headers), await r.json()


async def test_klines_are_the_contracts_own_at_its_precision(fake, session, frozen_clock) -> None:
    """BTCUSDT's perpetual quotes to 0.1 and trades in 0.001: its klines say so, hold its own
    trades (not spot's BTCUSDT), and continuousKlines of the perpetual are the same rows."""
    start = NOW_MS - NOW_MS % 60_000 - 30 * 60_000
    status, _, rows = await get(
        session, fake, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m", startTime=start
    )
    assert status == 200
    assert len(rows) == 31
    for row in rows:
        assert len(row) == 12
        assert row[11] == "0"
        assert all(re.fullmatch(r"\d+\.\d", v) for v in row[1:5]), row
        assert re.fullmatch(r"\d+\.\d{3}", row[5])
        assert re.fullmatch(r"\d+\.\d{4}", row[7])
    own = Market(usdm_config(), frozen_clock).klines("BTCUSDT", "1m", start, None, 500)
    assert [[r[0], *map(Decimal, r[1:6]), Decimal(r[7]), r[8]] for r in rows] == [
        [k.open_time, k.open, k.high, k.low, k.close, k.volume, k.quote_volume, k.trade_count]
        for k in own
    ]
    spot = fake.market.klines("BTCUSDT", "1m", start, None, 500)
    assert [k.trade_count for k in spot] != [r[8] for r in rows]

    status, _, same = await get(
        session,
        fake,
        "/fapi/v1/continuousKlines",
        pair="BTCUSDT",
        contractType="PERPETUAL",
        interval="1m",
        startTime=start,
    )
    assert (status, same) == (200, rows)
    status, _, body = await get(
        session,
        fake,
        "/fapi/v1/continuousKlines",
        pair="BTCUSDT",
        contractType="CURRENT_QUARTER",
        interval="1m",
    )
    assert (status, body["code"]) == (400, -1121)
    status, _, body = await get(session, fake, "/fapi/v1/klines", symbol="BTCUSDT", interval="1s")
    assert (status, body) == (400, {"code": -1120, "msg": "Invalid interval."})
    status, _, body = await get(session, fake, "/fapi/v1/klines", symbol="PEPEUSDT", interval="1m")
    assert (status, body["code"]) == (400, -1121)


async def test_weights_by_limit_in_the_futures_own_pool(fake, session) -> None:
    """Every kline kind weighs 1, 2, 5 or 10 by the limit sent, counted against the futures'
    limit (2,400 a minute) and not spot's; over it, 429 on /fapi while /api/v3 still answers."""
    expected = 0
    for path, key in (
        ("/fapi/v1/klines", "symbol"),
        ("/fapi/v1/markPriceKlines", "symbol"),
        ("/fapi/v1/indexPriceKlines", "pair"),
        ("/fapi/v1/premiumIndexKlines", "symbol"),
    ):
        for limit in (99, 100, 499, 500, 1000, 1001):
            status, headers, _ = await get(
                session, fake, path, interval="1h", limit=limit, **{key: "ETHUSDT"}
            )
            expected += kline_weight(limit)
            assert status == 200
            assert int(headers["x-mbx-used-weight-1m"]) == expected, (path, limit)
    assert [kline_weight(n) for n in (1, 99, 100, 499, 500, 1000, 1001, 1500)] == [
        1, 1, 2, 2, 5, 5, 10, 10,
    ]  # fmt: skip
    status, _, info = await get(session, fake, "/fapi/v1/exchangeInfo")
    assert info["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 2400,
    }

    assert fake.usdm is not None
    fake.usdm.limiter = WeightLimiter(15, 60, now=lambda: 1_000_000.0)
    status, _, _ = await get(session, fake, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m")
    assert status == 200  # 5 of 15
    status, _, _ = await get(
        session, fake, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m", limit=1500
    )
    assert status == 200  # 15 of 15
    status, _, body = await get(session, fake, "/fapi/v1/ping")
    assert (status, body["code"]) == (429, -1003)
    status, headers, _ = await get(session, fake, "/api/v3/ping")
    assert status == 200
    assert headers["x-mbx-used-weight-1m"] == "1"


async def test_price_klines_roll_up_and_funding_follows_binances_formula(fake, session) -> None:
    """Mark, index and premium klines: no volumes, the samples counted (60 a minute for mark
    and index, 12 for the premium), each hour the roll-up of its minutes. Funding every 8 hours
    on the hour: F = P + clamp(0.01% - P, +-0.05%), P the period's premium (its minutes' closes),
    at the mark price of that moment; over days the clamp both holds and lets P through."""
    day_start = NOW_MS - NOW_MS % (24 * HOUR_MS) - 3 * 24 * HOUR_MS
    for path, key, per_minute in (
        ("/fapi/v1/markPriceKlines", "symbol", 60),
        ("/fapi/v1/indexPriceKlines", "pair", 60),
        ("/fapi/v1/premiumIndexKlines", "symbol", 12),
    ):
        _, _, minutes = await get(
            session, fake, path, interval="1m", startTime=day_start, limit=240, **{key: "BTCUSDT"}
        )
        _, _, hours = await get(
            session, fake, path, interval="1h", startTime=day_start, limit=4, **{key: "BTCUSDT"}
        )
        assert len(minutes) == 240
        assert len(hours) == 4
        assert {tuple(r[i] for i in (5, 7, 9, 10, 11)) for r in minutes} == {("0",) * 5}
        assert {r[8] for r in minutes} == {per_minute}
        for hour in hours:
            inside = [m for m in minutes if hour[0] <= m[0] < hour[0] + HOUR_MS]
            assert hour[1:9] == [
                inside[0][1],
                max(inside, key=lambda m: Decimal(m[2]))[2],
                min(inside, key=lambda m: Decimal(m[3]))[3],
                inside[-1][4],
                "0",
                hour[0] + HOUR_MS - 1,
                "0",
                60 * per_minute,
            ], path

    _, _, funding = await get(
        session, fake, "/fapi/v1/fundingRate", symbol="BTCUSDT", startTime=day_start, limit=9
    )
    assert [f["fundingTime"] for f in funding] == [
        day_start + i * FUNDING_MS for i in range(9) if day_start + i * FUNDING_MS <= NOW_MS
    ]
    clamped = free = 0
    for f in funding:
        at = f["fundingTime"]
        _, _, premium = await get(
            session,
            fake,
            "/fapi/v1/premiumIndexKlines",
            symbol="BTCUSDT",
            interval="1m",
            startTime=at - FUNDING_MS,
            endTime=at - 1,
            limit=480,
        )
        closes = [int(Decimal(p[4]) * 10**8) for p in premium]
        mean = sum(closes) // len(closes)
        rate = max(-CAP, min(CAP, mean + max(-CLAMP, min(CLAMP, INTEREST - mean))))
        assert Decimal(f["fundingRate"]) == Decimal(rate).scaleb(-8), at
        clamped += rate == INTEREST
        free += rate != INTEREST
        _, _, [mark] = await get(
            session,
            fake,
            "/fapi/v1/markPriceKlines",
            symbol="BTCUSDT",
            interval="1m",
            startTime=at,
            limit=1,
        )
        assert f["markPrice"] == mark[1]
    assert clamped, funding
    assert free, funding


async def test_ccxt_binanceusdm_reads_the_fakes_perpetual(fake, session) -> None:
    """ccxt's binanceusdm, its URLs pointed at the fake: the perpetual's market, its trade,
    mark and index candles and its funding history, as the fake serves them."""
    exchange = ccxt.binanceusdm({"enableRateLimit": False})
    for name in ("fapiPublic", "fapiPublicV2", "fapiPublicV3"):
        exchange.urls["api"][name] = exchange.urls["api"][name].replace(
            "https://fapi.binance.com", fake.url
        )
    since = NOW_MS - 10 * 60_000
    try:
        markets = await exchange.load_markets()
        btc = markets["BTC/USDT:USDT"]
        assert (btc["id"], btc["swap"], btc["linear"], btc["settle"]) == (
            "BTCUSDT",
            True,
            True,
            "USDT",
        )
        assert btc["precision"]["price"] == 0.1
        assert btc["precision"]["amount"] == 0.001
        for price, path, key in (
            (None, "/fapi/v1/klines", "symbol"),
            ("mark", "/fapi/v1/markPriceKlines", "symbol"),
            ("index", "/fapi/v1/indexPriceKlines", "pair"),
        ):
            params = {"price": price} if price else {}
            candles = await exchange.fetch_ohlcv("BTC/USDT:USDT", "1m", since, 5, params)
            _, _, rows = await get(
                session, fake, path, interval="1m", startTime=since, limit=5, **{key: "BTCUSDT"}
            )
            assert candles == [[r[0], *(float(v) for v in r[1:6])] for r in rows], price
        history = await exchange.fetch_funding_rate_history("BTC/USDT:USDT", NOW_MS - 86_400_000)
        _, _, rows = await get(
            session, fake, "/fapi/v1/fundingRate", symbol="BTCUSDT", startTime=NOW_MS - 86_400_000
        )
        assert [(h["timestamp"], h["fundingRate"]) for h in history] == [
            (r["fundingTime"], float(r["fundingRate"])) for r in rows
        ]
        assert len(history) == 3
    finally:
        await exchange.close()


async def test_streams_are_routed_as_fstream_routes_them(config, session) -> None:
    """`/public/ws/<s>@trade` carries the perpetual's trades, framed as fstream frames them
    (the contract's precision, `X: MARKET`); `/market/ws/<s>@aggTrade` its aggTrades; a trade
    stream asked for on `/market` is accepted and stays silent, as Binance's is."""
    clock = MarketClock(start=NOW, speed=30)
    async with FakeBinance(config, clock=clock, usdm_config=usdm_config()) as fake:
        ws = fake.url.replace("http", "ws")
        async with (
            session.ws_connect(f"{ws}/public/ws/btcusdt@trade") as trades,
            session.ws_connect(f"{ws}/market/ws/btcusdt@aggTrade") as aggs,
            session.ws_connect(f"{ws}/market/stream?streams=btcusdt@trade") as silent,
        ):
            got = [await trades.receive_json(timeout=10) for _ in range(20)]
            agg = await aggs.receive_json(timeout=10)
            with pytest.raises(TimeoutError):
                await silent.receive_json(timeout=0.5)
        assert fake.usdm is not None
        market = fake.usdm.market
        want = market.trades_from_id("BTCUSDT", got[0]["t"], 20, clock.now_us())
        assert [(g["t"], g["p"], g["q"], g["T"], g["m"]) for g in got] == [
            (i, f"{Decimal(p).scaleb(-8):.1f}", f"{Decimal(q).scaleb(-8):.3f}", t // 1000, m)
            for i, p, q, _, t, m in zip(*(c.tolist() for c in want), strict=True)
        ]
        assert {(g["e"], g["s"], g["X"]) for g in got} == {("trade", "BTCUSDT", "MARKET")}
        assert (agg["e"], agg["s"], agg["q"] == agg["nq"]) == ("aggTrade", "BTCUSDT", True)


async def test_dumps_are_binances_futures_files(fake, session) -> None:
    """`data/futures/um/`: a header row, ms times, lower-case booleans, the REST rows at the
    contract's precision; monthly files named `1mo`; funding monthly only, its three columns;
    no daily file for an interval past 1d."""
    base = f"{fake.url}/data/futures/um"

    async def rows(path: str) -> list[list[str]]:
        async with session.get(f"{base}/{path}") as r:
            assert r.status == 200, path
            data = await r.read()
        async with session.get(f"{base}/{path}.CHECKSUM") as r:
            assert (await r.text()).split()[0] == hashlib.sha256(data).hexdigest()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            [name] = zf.namelist()
            assert name == path.rsplit("/", 1)[1].replace(".zip", ".csv")
            return [line.split(",") for line in zf.read(name).decode().splitlines()]

    day = "2025-03-10"
    day_ms = int(datetime.fromisoformat(f"{day}T00:00:00+00:00").timestamp() * 1000)
    for kind, path in (
        ("klines", "/fapi/v1/klines"),
        ("markPriceKlines", "/fapi/v1/markPriceKlines"),
        ("premiumIndexKlines", "/fapi/v1/premiumIndexKlines"),
    ):
        got = await rows(f"daily/{kind}/BTCUSDT/1m/BTCUSDT-1m-{day}.zip")
        assert got[0] == KLINE_HEADER.split(","), kind
        _, _, rest = await get(
            session,
            fake,
            path,
            symbol="BTCUSDT",
            interval="1m",
            startTime=day_ms,
            endTime=day_ms + 86_400_000 - 1,
            limit=1500,
        )
        assert got[1:] == [[str(v) for v in r] for r in rest], kind
        assert len(got) == 1441

    trades = await rows(f"daily/trades/BTCUSDT/BTCUSDT-trades-{day}.zip")
    assert trades[0] == ["id", "price", "qty", "quote_qty", "time", "is_buyer_maker"]
    assert {t[5] for t in trades[1:]} == {"true", "false"}
    assert all(day_ms <= int(t[4]) < day_ms + 86_400_000 for t in trades[1:])
    assert all(Decimal(t[1]) * Decimal(t[2]) == Decimal(t[3]) for t in trades[1:])
    _, _, [day_kline] = await get(
        session, fake, "/fapi/v1/klines", symbol="BTCUSDT", interval="1d", startTime=day_ms, limit=1
    )
    assert len(trades) - 1 == day_kline[8]
    aggs = await rows(f"daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip")
    assert aggs[0][0] == "agg_trade_id"
    assert sum(int(a[4]) - int(a[3]) + 1 for a in aggs[1:]) == day_kline[8]

    month = await rows("monthly/klines/BTCUSDT/1mo/BTCUSDT-1mo-2025-01.zip")
    _, _, rest = await get(
        session,
        fake,
        "/fapi/v1/klines",
        symbol="BTCUSDT",
        interval="1M",
        startTime=int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000),
        limit=1,
    )
    assert month[1:] == [[str(v) for v in r] for r in rest]
    funding = await rows("monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-02.zip")
    assert funding[0] == ["calc_time", "funding_interval_hours", "last_funding_rate"]
    feb = int(datetime(2025, 2, 1, tzinfo=UTC).timestamp() * 1000)
    _, _, rest = await get(
        session, fake, "/fapi/v1/fundingRate", symbol="BTCUSDT", startTime=feb, limit=1000
    )
    assert funding[1:] == [
        [str(r["fundingTime"]), "8", r["fundingRate"]]
        for r in rest
        if r["fundingTime"] < feb + 28 * 86_400_000
    ]
    assert len(funding) == 1 + 28 * 3
    for missing in (
        f"daily/fundingRate/BTCUSDT/BTCUSDT-fundingRate-{day}.zip",
        f"daily/klines/BTCUSDT/3d/BTCUSDT-3d-{day}.zip",
        f"daily/klines/PEPEUSDT/1m/PEPEUSDT-1m-{day}.zip",
    ):
        async with session.get(f"{base}/{missing}") as r:
            assert r.status == 404, missing
