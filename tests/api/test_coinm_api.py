"""The read API's /dapi/v1 over market_coinm and analytics_coinm: ccxt's binancecoinm, pointed at
it and at the fake exchange (Binance here) in turn, reads the same COIN-M perpetual's trade,
mark and index candles and funding history from both; every trade-kline interval equals the
fake's field for field (contracts, the base asset's volume), including COIN-M's rule that a
window wider than the limit answers its newest rows."""

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
from tests.include.history_support import coinm_config, running_usdm_fake
from tests.support.api import running_api

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_target_path")]

START = parse_utc("2025-03-09")
END = parse_utc("2025-03-11")
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFakeBinance]:
    with running_usdm_fake(coinm_config=coinm_config()) as server:
        yield server


def coinm_client(base: str) -> ccxt.binancecoinm:
    exchange = ccxt.binancecoinm({"enableRateLimit": False})
    for name in ("dapiPublic", "dapiData"):
        exchange.urls["api"][name] = exchange.urls["api"][name].replace(
            "https://dapi.binance.com", base
        )
    return exchange


async def test_ccxt_binancecoinm_reads_the_same_perpetual_from_us_as_from_binance(
    fake: ThreadedFakeBinance, database_url: str
) -> None:
    backfill_rest(["BTCUSD_PERP"], START, END, rest_url=fake.url, market_name="coinm")
    build_timeframes(database_url, market="coinm")
    config = ApiConfig(
        database_url=load_config().database_url,
        port=0,
        markets=("spot", "coinm"),
        futures_symbols={"coinm": frozenset({"BTCUSD_PERP"})},
    )
    async with running_api(config) as api:
        async with httpx.AsyncClient() as http:
            for interval in INTERVALS:
                # Both times, a window of two days: the 1m and 3m windows hold more than the
                # limit, so COIN-M answers their newest 1,500 (spot and USDⓈ-M the oldest).
                params = {
                    "symbol": "BTCUSD_PERP",
                    "interval": interval,
                    "startTime": to_ms(START),
                    "endTime": to_ms(END) - 1,
                    "limit": 1500,
                }
                ours = (await http.get(f"{api.http}/dapi/v1/klines", params=params)).json()
                theirs = (await http.get(f"{fake.url}/dapi/v1/klines", params=params)).json()
                assert len(theirs) == min(1500, 2 * DAY_MS // INTERVAL_MS[interval])
                # As Binance prints them: prices at the tick, quantities at the step.
                assert ours == theirs, interval
            assert theirs[-1][0] == to_ms(END) - DAY_MS
            newest = (
                await http.get(f"{api.http}/dapi/v1/klines", params={**params, "interval": "1m"})
            ).json()
            assert newest[-1][0] == to_ms(END) - 60_000, "COIN-M answers a window's newest"
            continuous = (
                await http.get(
                    f"{api.http}/dapi/v1/continuousKlines",
                    params={
                        "pair": "BTCUSD",
                        "contractType": "PERPETUAL",
                        "interval": "1h",
                        "startTime": to_ms(START),
                        "endTime": to_ms(START) + 48 * 3_600_000 - 1,
                    },
                )
            ).json()
            assert len(continuous) == 48
            # TradingView's UDF names COIN-M's contract as Binance does; its hours are /dapi's.
            window = {"resolution": "60", "from": to_ms(START) // 1000}
            udf = (
                await http.get(
                    f"{api.http}/udf/history",
                    params={**window, "symbol": "BTCUSD_PERP", "to": to_ms(START) // 1000 + 86_399},
                )
            ).json()
            hours = (
                await http.get(
                    f"{api.http}/dapi/v1/klines",
                    params={
                        "symbol": "BTCUSD_PERP",
                        "interval": "1h",
                        "startTime": to_ms(START),
                        "endTime": to_ms(START) + DAY_MS - 1,
                    },
                )
            ).json()
            assert udf["s"] == "ok"
            assert udf["t"] == [row[0] // 1000 for row in hours]
            assert udf["v"] == [float(row[5]) for row in hours]
            assert len(hours) == 24
            wide = await http.get(
                f"{api.http}/dapi/v1/klines",
                params={**params, "endTime": to_ms(START) + 201 * DAY_MS},
            )
            assert wide.status_code == 400
            assert wide.json()["code"] == -1127

        ours, theirs = coinm_client(api.http), coinm_client(fake.url)
        try:
            market = (await ours.load_markets())["BTC/USD:BTC"]
            assert (market["id"], market["inverse"], market["contractSize"]) == (
                "BTCUSD_PERP",
                True,
                100.0,
            )
            await theirs.load_markets()
            since = to_ms(START) + 3_600_000
            for price in (None, "mark", "index"):
                params = {"price": price} if price else {}
                for timeframe in ("1m", "1h"):
                    got = await ours.fetch_ohlcv("BTC/USD:BTC", timeframe, since, 300, params)
                    want = await theirs.fetch_ohlcv("BTC/USD:BTC", timeframe, since, 300, params)
                    want = [c for c in want if c[0] < to_ms(END)]
                    assert len(want) >= 30, (price, timeframe)
                    assert got == want, (price, timeframe)
            got = await ours.fetch_funding_rate_history("BTC/USD:BTC", to_ms(START))
            want = await theirs.fetch_funding_rate_history("BTC/USD:BTC", to_ms(START))
            strip = [
                (f["timestamp"], f["fundingRate"]) for f in want if f["timestamp"] < to_ms(END)
            ]
            assert len(strip) == 6
            assert [(f["timestamp"], f["fundingRate"]) for f in got] == strip
        finally:
            await ours.close()
            await theirs.close()
