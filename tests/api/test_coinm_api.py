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

from fakebinance.server import ThreadedFakeBinance
from include.history.backfill import backfill_rest
from include.platform.times import DAY_MS, parse_utc, to_ms
from include.timeframes import build_timeframes
from tests.include.history_support import coinm_config, running_usdm_fake
from tests.support.api import futures_api_config, running_api
from tests.support.futures import (
    assert_ccxt_reads_as_fakes,
    assert_klines_as_fakes,
    kline_params,
    pointed_pair,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_target_path")]

START = parse_utc("2025-03-09")
END = parse_utc("2025-03-11")
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFakeBinance]:
    with running_usdm_fake(coinm_config=coinm_config()) as server:
        yield server


async def test_ccxt_binancecoinm_reads_the_same_perpetual_from_us_as_from_binance(
    fake: ThreadedFakeBinance, database_url: str
) -> None:
    backfill_rest(["BTCUSD_PERP"], START, END, rest_url=fake.url, market_name="coinm")
    build_timeframes(database_url, market="coinm")
    async with running_api(futures_api_config("coinm", "BTCUSD_PERP")) as api:
        async with httpx.AsyncClient() as http:
            # Both times, a window of two days: the 1m and 3m windows hold more than the
            # limit, so COIN-M answers their newest 1,500 (spot and USDⓈ-M the oldest).
            theirs = await assert_klines_as_fakes(
                http,
                f"{api.http}/dapi/v1/klines",
                f"{fake.url}/dapi/v1/klines",
                "BTCUSD_PERP",
                (START, END),
                INTERVALS,
            )
            assert theirs["1d"][-1][0] == to_ms(END) - DAY_MS
            newest = (
                await http.get(
                    f"{api.http}/dapi/v1/klines",
                    params=kline_params("BTCUSD_PERP", "1m", START, END),
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
                params={
                    **kline_params("BTCUSD_PERP", "1d", START, END),
                    "endTime": to_ms(START) + 201 * DAY_MS,
                },
            )
            assert wide.status_code == 400
            assert wide.json()["code"] == -1127

        async with pointed_pair(ccxt.binancecoinm, api.http, fake.url) as (ours, theirs):
            market = (await ours.load_markets())["BTC/USD:BTC"]
            assert (market["id"], market["inverse"], market["contractSize"]) == (
                "BTCUSD_PERP",
                True,
                100.0,
            )
            await theirs.load_markets()
            await assert_ccxt_reads_as_fakes(ours, theirs, "BTC/USD:BTC", START, END)
