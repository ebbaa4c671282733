"""The fake's COIN-M futures on /dapi/v1 and dstream: contracts of a face value, the base
asset's volume as each trade's qty x size / price (rounded half up to 8 decimals) summed into the
klines, COIN-M's names (contractStatus, contractSize, baseQty, baseVolume), the newest rows of a
window, one weight pool with USDⓈ-M, the cm dumps, and ccxt's binancecoinm reading it all."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal

import aiohttp
import ccxt.async_support as ccxt
import orjson
import pytest
import pytest_asyncio

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig
from fakebinance.futures import (
    SEED_OFFSET,
    coin_contracts,
    default_contracts,
    synthetic_coin_contracts,
)
from fakebinance.ratelimit import WeightLimiter
from fakebinance.server import FakeBinance
from tests.support.fakebinance import NOW

NOW_MS = int(NOW.timestamp() * 1000)
MINUTE_MS = 60_000
EIGHT = Decimal("0.00000001")


@pytest_asyncio.fixture
async def fake(config: MarketConfig, frozen_clock: MarketClock) -> AsyncIterator[FakeBinance]:
    """The fake with both futures venues, their shared weight window standing still."""
    async with FakeBinance(
        config,
        clock=frozen_clock,
        usdm_config=MarketConfig(42 + SEED_OFFSET, default_contracts()),
        coinm_config=MarketConfig(
            42 + 2 * SEED_OFFSET, coin_contracts() + synthetic_coin_contracts(35, 200.0)
        ),
    ) as server:
        assert server.usdm is not None
        assert server.coinm is not None
        shared = WeightLimiter(2400, 60, now=lambda: 1_000_000.0)
        server.usdm.limiter = server.coinm.limiter = shared
        server.coinm.trades.limiter = shared
        yield server


async def get(session: aiohttp.ClientSession, fake: FakeBinance, path: str, **params):
    async with session.get(f"{fake.url}{path}", params=params) as r:
        return r.status, dict(r.headers), await r.json()


def base_qty(qty: str, price: str, size: int) -> Decimal:
    """A COIN-M trade's base quantity: its contracts' face value in the base asset."""
    return (Decimal(qty) * size / Decimal(price)).quantize(EIGHT, ROUND_HALF_UP)


@pytest.mark.parametrize(
    ("symbol", "size"),
    [("BTCUSD_PERP", 100), ("SYM0001USD_PERP", 10), ("SYM0035USD_PERP", 10)],
    ids=["btc", "synthetic", "seven-decimals"],
)
async def test_klines_sum_the_trades_contracts_and_base_quantities(
    fake, session, symbol: str, size: int
) -> None:
    """Each closed minute's volume is its trades' contracts and its column 8 the sum of their
    baseQty, each qty x size / price to 8 decimals (BTCUSD's 100 USD; synthetic contracts of
    --coinm-n-contracts at 10 USD and prices of 0.011 and 0.0045, quoted to 6 and 7 decimals:
    thousands of their base asset a contract, beyond int64 before the division);
    the taker columns the same over the trades whose buyer took; trades answer with baseQty."""
    minute = NOW_MS - NOW_MS % MINUTE_MS - 3 * MINUTE_MS
    _, _, [kline] = await get(
        session,
        fake,
        "/dapi/v1/klines",
        symbol=symbol,
        interval="1m",
        startTime=minute,
        endTime=minute + MINUTE_MS - 1,
    )
    _, _, aggs = await get(
        session,
        fake,
        "/dapi/v1/aggTrades",
        symbol=symbol,
        startTime=minute,
        endTime=minute + MINUTE_MS - 1,
        limit=1000,
    )
    first, last = aggs[0]["f"], aggs[-1]["l"]
    _, _, trades = await get(
        session, fake, "/dapi/v1/historicalTrades", symbol=symbol, fromId=first, limit=1000
    )
    trades = [t for t in trades if t["id"] <= last]
    assert set(trades[0]) == {"id", "price", "qty", "baseQty", "time", "isBuyerMaker"}
    assert all(Decimal(t["baseQty"]) == base_qty(t["qty"], t["price"], size) for t in trades)
    assert all("." not in t["qty"] for t in trades), "COIN-M trades whole contracts"
    takers = [t for t in trades if not t["isBuyerMaker"]]
    assert kline[5] == str(sum(int(t["qty"]) for t in trades))
    assert Decimal(kline[7]) == sum(Decimal(t["baseQty"]) for t in trades)
    assert kline[8] == len(trades) == last - first + 1
    assert kline[9] == str(sum(int(t["qty"]) for t in takers))
    assert Decimal(kline[10]) == sum(Decimal(t["baseQty"]) for t in takers)
    assert len(kline[7].split(".")[1]) == 8


async def test_coinm_names_and_windows_are_binances(fake, session) -> None:
    """exchangeInfo says contractStatus and contractSize; a window wider than the limit answers
    its newest rows (one given time: 200 days from it), wider than 200 days is refused; the
    index klines take a pair; fundingRate needs a symbol; the 24-hour ticker has baseVolume."""
    _, _, info = await get(session, fake, "/dapi/v1/exchangeInfo")
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSD_PERP")
    assert (btc["contractStatus"], btc["contractSize"], btc["pair"]) == ("TRADING", 100, "BTCUSD")
    assert "status" not in btc
    assert btc["marginAsset"] == "BTC"
    end = NOW_MS - NOW_MS % MINUTE_MS - 1
    start = end + 1 - 100 * MINUTE_MS
    _, _, rows = await get(
        session,
        fake,
        "/dapi/v1/klines",
        symbol="BTCUSD_PERP",
        interval="1m",
        startTime=start,
        endTime=end,
        limit=10,
    )
    assert [r[0] for r in rows] == [end + 1 - (10 - i) * MINUTE_MS for i in range(10)]
    _, _, only_start = await get(
        session, fake, "/dapi/v1/klines", symbol="BTCUSD_PERP", interval="1m", startTime=start,
        limit=3,
    )  # fmt: skip
    assert only_start[-1][0] == NOW_MS - NOW_MS % MINUTE_MS, "the newest, the running minute"
    status, _, refused = await get(
        session, fake, "/dapi/v1/klines", symbol="BTCUSD_PERP", interval="1m",
        startTime=start - 201 * 86_400_000, endTime=end,
    )  # fmt: skip
    assert (status, refused["code"]) == (400, -1127)
    status, _, index = await get(
        session, fake, "/dapi/v1/indexPriceKlines", pair="BTCUSD", interval="1m", limit=2
    )
    assert status == 200
    assert len(index) == 2
    status, _, body = await get(session, fake, "/dapi/v1/fundingRate")
    assert (status, body["code"]) == (400, -1102)
    _, _, ticker = await get(session, fake, "/dapi/v1/ticker/24hr", symbol="BTCUSD_PERP")
    assert {"pair", "volume", "baseVolume"} <= set(ticker)
    assert "quoteVolume" not in ticker


async def test_usdm_and_coinm_draw_from_one_weight_pool(fake, session) -> None:
    """Since 2026-06-30 a /dapi request counts in the same IP minute as /fapi's."""
    _, headers, _ = await get(session, fake, "/fapi/v1/time")
    before = int(headers["x-mbx-used-weight-1m"])
    _, headers, _ = await get(
        session, fake, "/dapi/v1/klines", symbol="BTCUSD_PERP", interval="1m", limit=600
    )
    assert int(headers["x-mbx-used-weight-1m"]) == before + 5
    _, headers, _ = await get(session, fake, "/fapi/v1/time")
    assert int(headers["x-mbx-used-weight-1m"]) == before + 5 + 1


async def test_cm_dumps_carry_base_qty_and_equal_rest(fake, session) -> None:
    """data/futures/cm/: a day's trades with the base_qty header and values, its klines the
    same rows /dapi/v1 serves."""
    day = "2025-03-10"
    url = f"{fake.url}/data/futures/cm/daily/trades/BTCUSD_PERP/BTCUSD_PERP-trades-{day}.zip"
    async with session.get(url) as r:
        assert r.status == 200
        body = await r.read()
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        lines = z.read(z.namelist()[0]).decode().splitlines()
    assert lines[0] == "id,price,qty,base_qty,time,is_buyer_maker"
    _, price, qty, base, _, maker = lines[1].split(",")
    assert Decimal(base) == base_qty(qty, price, 100)
    assert maker in ("true", "false")
    url = f"{fake.url}/data/futures/cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-{day}.zip"
    async with session.get(url) as r:
        body = await r.read()
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        rows = z.read(z.namelist()[0]).decode().splitlines()[1:]
    day_ms = 1_741_564_800_000
    _, _, served = await get(
        session, fake, "/dapi/v1/klines", symbol="BTCUSD_PERP", interval="1m",
        startTime=day_ms, endTime=day_ms + 100 * MINUTE_MS - 1, limit=100,
    )  # fmt: skip
    assert [r.split(",") for r in rows[:100]] == [[str(v) for v in k] for k in served]


async def test_dstream_carries_aggtrades_unrouted(fake, session) -> None:
    """dstream is not split: /dstream/ws/<contract>@aggTrade streams the contract's aggTrades
    (a lowercase name with its underscore)."""
    async with session.ws_connect(f"{fake.ws_url}/dstream/ws/btcusd_perp@aggTrade") as ws:
        fake.clock.set(fake.clock.now_us() + 20_000_000, 1.0)
        message = await ws.receive(timeout=10)
        event = orjson.loads(message.data)
    assert (event["e"], event["s"]) == ("aggTrade", "BTCUSD_PERP")
    assert "." not in event["q"]


async def test_ccxt_binancecoinm_reads_the_fakes_perpetual(fake) -> None:
    """ccxt's binancecoinm, its URLs pointed at the fake: the inverse perpetual's market (100
    USD a contract), its trade, mark and index candles and its funding history."""
    exchange = ccxt.binancecoinm({"enableRateLimit": False})
    for name in ("dapiPublic", "dapiData"):
        exchange.urls["api"][name] = exchange.urls["api"][name].replace(
            "https://dapi.binance.com", fake.url
        )
    try:
        market = (await exchange.load_markets())["BTC/USD:BTC"]
        assert (market["inverse"], market["contractSize"]) == (True, 100.0)
        since = NOW_MS - 3 * 3_600_000
        for price in (None, "mark", "index"):
            params = {"price": price} if price else {}
            candles = await exchange.fetch_ohlcv("BTC/USD:BTC", "1m", since, 100, params)
            assert len(candles) == 100, price
        funding = await exchange.fetch_funding_rate_history("BTC/USD:BTC", since - 86_400_000)
        assert len(funding) == 3
    finally:
        await exchange.close()
