"""The read API's /fapi/v1 over market_usdm and analytics_usdm: ccxt's binanceusdm, pointed at it
and at the fake exchange (Binance here) in turn, reads the same perpetual's trade, mark and index
candles and funding history from both; every trade-kline interval equals the fake's, field for
field, and a spot symbol of the same name stays spot's."""

from __future__ import annotations

from collections.abc import Iterator

import ccxt.async_support as ccxt
import httpx
import pytest

from api.config import ApiConfig, load_config
from fakebinance.server import ThreadedFakeBinance
from include.history.backfill import backfill_rest
from include.platform.intervals import INTERVAL_MS
from include.platform.times import DAY_MS, parse_utc, to_ms
from include.timeframes import build_timeframes
from tests.include.history_support import running_usdm_fake
from tests.support.api import running_api

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_target_path")]

START = parse_utc("2025-03-09")
END = parse_utc("2025-03-11")
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFakeBinance]:
    with running_usdm_fake() as server:
        yield server


def usdm_client(base: str) -> ccxt.binanceusdm:
    exchange = ccxt.binanceusdm({"enableRateLimit": False})
    for name in ("fapiPublic", "fapiPublicV2", "fapiPublicV3"):
        exchange.urls["api"][name] = exchange.urls["api"][name].replace(
            "https://fapi.binance.com", base
        )
    return exchange


async def test_ccxt_binanceusdm_reads_the_same_perpetual_from_us_as_from_binance(
    fake: ThreadedFakeBinance, database_url: str
) -> None:
    backfill_rest(["BTCUSDT"], START, END, rest_url=fake.url, market_name="usdm")
    build_timeframes(database_url, market="usdm")
    config = ApiConfig(
        database_url=load_config().database_url,
        port=0,
        markets=("spot", "usdm"),
        futures_symbols={"usdm": frozenset({"BTCUSDT"})},
    )
    async with running_api(config) as api:
        async with httpx.AsyncClient() as http:
            for interval in INTERVALS:
                params = {
                    "symbol": "BTCUSDT",
                    "interval": interval,
                    "startTime": to_ms(START),
                    "endTime": to_ms(END) - 1,
                    "limit": 1500,
                }
                ours = (await http.get(f"{api.http}/fapi/v1/klines", params=params)).json()
                theirs = (await http.get(f"{fake.url}/fapi/v1/klines", params=params)).json()
                assert len(theirs) == min(1500, 2 * DAY_MS // INTERVAL_MS[interval])
                # As Binance prints them: prices at the tick, quantities at the step.
                assert ours == theirs, interval
            continuous = (
                await http.get(
                    f"{api.http}/fapi/v1/continuousKlines",
                    params={
                        "pair": "BTCUSDT",
                        "contractType": "PERPETUAL",
                        "interval": "1h",
                        "startTime": to_ms(START),
                        "limit": 48,
                    },
                )
            ).json()
            assert len(continuous) == 48
            # Spot's BTCUSDT is not the perpetual: spot's table holds nothing here.
            spot = await http.get(
                f"{api.http}/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"}
            )
            assert spot.status_code == 400

        ours, theirs = usdm_client(api.http), usdm_client(fake.url)
        try:
            market = (await ours.load_markets())["BTC/USDT:USDT"]
            assert (market["id"], market["swap"], market["linear"]) == ("BTCUSDT", True, True)
            await theirs.load_markets()
            since = to_ms(START) + 3_600_000
            for price in (None, "mark", "index"):
                params = {"price": price} if price else {}
                for timeframe in ("1m", "1h"):
                    got = await ours.fetch_ohlcv("BTC/USDT:USDT", timeframe, since, 300, params)
                    want = await theirs.fetch_ohlcv("BTC/USDT:USDT", timeframe, since, 300, params)
                    # What was loaded: the fake trades on to its clock, two days later.
                    want = [c for c in want if c[0] < to_ms(END)]
                    assert len(want) >= 30, (price, timeframe)
                    assert got == want, (price, timeframe)
            got = await ours.fetch_funding_rate_history("BTC/USDT:USDT", to_ms(START))
            want = await theirs.fetch_funding_rate_history("BTC/USDT:USDT", to_ms(START))
            strip = [
                (f["timestamp"], f["fundingRate"]) for f in want if f["timestamp"] < to_ms(END)
            ]
            assert len(strip) == 6
            assert [(f["timestamp"], f["fundingRate"]) for f in got] == strip
        finally:
            await ours.close()
            await theirs.close()
