"""The read API's /fapi/v1 over market_usdm and analytics_usdm: ccxt's binanceusdm, pointed at it
and at the fake exchange (Binance here) in turn, reads the same perpetual's trade, mark and index
candles and funding history from both; every trade-kline interval equals the fake's, field for
field, and a spot symbol of the same name stays spot's."""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest

from fakebinance.server import ThreadedFakeBinance
from include.platform.times import to_ms
from tests.support import futures
from tests.support.futures import START

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_target_path")]


async def test_ccxt_binanceusdm_reads_the_same_perpetual_from_us_as_from_binance(
    usdm_fake: ThreadedFakeBinance, database_url: str
) -> None:
    """Klines, continuous klines and ccxt's candles and funding of BTCUSDT as the fake's."""
    async with futures.serving(usdm_fake.url, database_url, "usdm", "BTCUSDT") as (api, http):
        await futures.assert_klines_as_fakes(
            http, api.http, usdm_fake.url, "/fapi/v1/klines", "BTCUSDT"
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
        exchanges = futures.pointed_pair(ccxt.binanceusdm, api.http, usdm_fake.url)
        async with exchanges as (ours, theirs):
            market = (await ours.load_markets())["BTC/USDT:USDT"]
            assert (market["id"], market["swap"], market["linear"]) == ("BTCUSDT", True, True)
            await theirs.load_markets()
            await futures.assert_ccxt_reads_as_fakes(ours, theirs, "BTC/USDT:USDT")
