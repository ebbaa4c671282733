"""The read API's /dapi/v1 over market_coinm and analytics_coinm: ccxt's binancecoinm, pointed at
it and at the fake exchange (Binance here) in turn, reads the same COIN-M perpetual's trade,
mark and index candles and funding history from both; every trade-kline interval equals the
fake's field for field (contracts, the base asset's volume), including COIN-M's rule that a
window wider than the limit answers its newest rows."""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest

from fakebinance.server import ThreadedFakeBinance
from include.platform.times import DAY_MS, to_ms
from tests.support import futures
from tests.support.futures import END, START

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_target_path")]


async def test_ccxt_binancecoinm_reads_the_same_perpetual_from_us_as_from_binance(
    coinm_fake: ThreadedFakeBinance, database_url: str
) -> None:
    """BTCUSD_PERP's klines, UDF hours and ccxt's candles and funding as the fake's."""
    async with futures.serving(coinm_fake.url, database_url, "coinm", "BTCUSD_PERP") as (api, http):
        # Both times, a window of two days: the 1m and 3m windows hold more than the
        # limit, so COIN-M answers their newest 1,500 (spot and USDⓈ-M the oldest).
        theirs = await futures.assert_klines_as_fakes(
            http, api.http, coinm_fake.url, "/dapi/v1/klines", "BTCUSD_PERP"
        )
        assert theirs["1d"][-1][0] == to_ms(END) - DAY_MS
        newest = (
            await http.get(
                f"{api.http}/dapi/v1/klines",
                params=futures.kline_params("BTCUSD_PERP", "1m"),
            )
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
                params={
                    **window,
                    "symbol": "BTCUSD_PERP",
                    "to": to_ms(START) // 1000 + 86_399,
                },
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
            params={
                **futures.kline_params("BTCUSD_PERP", "1d"),
                "endTime": to_ms(START) + 201 * DAY_MS,
            },
        )
        assert wide.status_code == 400
        assert wide.json()["code"] == -1127
        exchanges = futures.pointed_pair(ccxt.binancecoinm, api.http, coinm_fake.url)
        async with exchanges as (ours, theirs):
            market = (await ours.load_markets())["BTC/USD:BTC"]
            assert (market["id"], market["inverse"], market["contractSize"]) == (
                "BTCUSD_PERP",
                True,
                100.0,
            )
            await theirs.load_markets()
            await futures.assert_ccxt_reads_as_fakes(ours, theirs, "BTC/USD:BTC")
