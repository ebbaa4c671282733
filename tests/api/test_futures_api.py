"""The read API's /fapi/v1 over market_usdm and analytics_usdm: ccxt's binanceusdm, pointed at it
and at the fake exchange (Binance here) in turn, reads the same perpetual's trade, mark and index
candles and funding history from both; every trade-kline interval equals the fake's, field for
field, and a spot symbol of the same name stays spot's."""

from __future__ import annotations

from collections.abc import Iterator

import ccxt.async_support as ccxt
import httpx
import pytest

from fakebinance.server import ThreadedFakeBinance
from include.history.backfill import backfill_rest
from include.platform.times import parse_utc, to_ms
from include.timeframes import build_timeframes
from tests.include.history_support import running_usdm_fake
from tests.support.api import futures_api_config, running_api
from tests.support.futures import assert_ccxt_reads_as_fakes, assert_klines_as_fakes, pointed_pair

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_target_path")]

START = parse_utc("2025-03-09")
END = parse_utc("2025-03-11")
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFakeBinance]:
    with running_usdm_fake() as server:
        yield server


async def test_ccxt_binanceusdm_reads_the_same_perpetual_from_us_as_from_binance(
    fake: ThreadedFakeBinance, database_url: str
) -> None:
    backfill_rest(["BTCUSDT"], START, END, rest_url=fake.url, market_name="usdm")
    build_timeframes(database_url, market="usdm")
    async with running_api(futures_api_config("usdm", "BTCUSDT")) as api:
        async with httpx.AsyncClient() as http:
            await assert_klines_as_fakes(
                http,
                f"{api.http}/fapi/v1/klines",
                f"{fake.url}/fapi/v1/klines",
                "BTCUSDT",
                (START, END),
                INTERVALS,
            )
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

        async with pointed_pair(ccxt.binanceusdm, api.http, fake.url) as (ours, theirs):
            market = (await ours.load_markets())["BTC/USDT:USDT"]
            assert (market["id"], market["swap"], market["linear"]) == ("BTCUSDT", True, True)
            await theirs.load_markets()
            await assert_ccxt_reads_as_fakes(ours, theirs, "BTC/USDT:USDT", START, END)
