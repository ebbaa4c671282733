"""A closed candle that a repair corrects is pushed again, equal to the official kline: spot's on
/ws, a futures market's on its own path (/fws) from its own rebuilt runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
import websockets

from api.config import ApiConfig, load_config
from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, default_symbols, utc
from fakebinance.futures import SEED_OFFSET, default_contracts
from fakebinance.server import FakeBinance
from include.history.reconcile import reconcile
from include.timeframes import build_timeframes
from tests.support.api import RunningApi, running_api, write_live
from tests.support.dbt import from_ms, kline_values, to_ms
from tests.support.ws import recv_json

# dbt builds the marts here: its files go to a temporary directory.
pytestmark = pytest.mark.usefixtures("dbt_target_path")
HOUR = utc(2025, 3, 10, 10)
WRONG_MINUTE = HOUR + timedelta(minutes=37)
FIELDS = ("t", "o", "h", "l", "c", "v", "T", "q", "n", "V", "Q")


def as_rest(k: dict, market: str) -> list:
    """A kline event's candle in /api/v3/klines' order (without the ignored field): spot's
    strings as they are; a futures candle's as numbers (it prints at the contract's tick where
    the fake's rows print 8 places; test_futures_api compares those strings with /fapi's)."""
    return [as_market(k[f], market) for f in FIELDS]


def as_market(value: object, market: str) -> object:
    return Decimal(value) if market != "spot" and isinstance(value, str) else value


def official(kline, market: str) -> list:
    return [as_market(v, market) for v in kline.to_rest_row()[:11]]


@asynccontextmanager
async def serving(market: str) -> AsyncIterator[RunningApi]:
    """The read API serving spot, and the market if it is a futures one."""
    markets = ("spot",) if market == "spot" else ("spot", market)
    config = ApiConfig(database_url=load_config().database_url, port=0, markets=markets)
    async with running_api(config) as api:
        yield api


@pytest.mark.slow
@pytest.mark.parametrize(("market", "path"), [("spot", "/ws"), ("usdm", "/fws/ws")])
async def test_reconcile_repair_is_pushed_to_1m_and_1h_subscribers(
    database_url, conn, market: str, path: str
):
    """A live minute that differs from Binance, already built by dbt: after reconcile repairs
    and rebuilds, the market's subscribers get the minute and its hour again, closed, equal to
    the official klines."""
    clock = MarketClock(start=HOUR + timedelta(hours=2), speed=0)
    contracts = MarketConfig(7 + SEED_OFFSET, default_contracts())
    schema = "market" if market == "spot" else f"market_{market}"
    async with (
        FakeBinance(MarketConfig(7, default_symbols()), clock=clock, usdm_config=contracts) as fake,
        serving(market) as api,
    ):
        served = fake.market if market == "spot" else fake.usdm.market
        minutes = served.klines("BTCUSDT", "1m", to_ms(HOUR), to_ms(HOUR) + 3_600_000, 61)
        assert len(minutes) == 61
        for k in minutes:
            values = list(kline_values(k))
            if k.open_time == to_ms(WRONG_MINUTE):
                values[3] += 1  # close
                values[4] += 2  # volume
            write_live(conn, "BTCUSDT", from_ms(k.open_time), values, True, schema)
        await asyncio.to_thread(build_timeframes, database_url, unit_tests=False, market=market)
        (official_minute,) = served.klines("BTCUSDT", "1m", to_ms(WRONG_MINUTE), None, 1)
        (official_hour,) = served.klines("BTCUSDT", "1h", to_ms(HOUR), None, 1)

        async with websockets.connect(f"{api.ws}{path}") as ws:
            await ws.send(
                '{"method":"SUBSCRIBE","params":["btcusdt@kline_1m","btcusdt@kline_1h"],"id":1}'
            )
            assert await recv_json(ws) == {"result": None, "id": 1}
            pushed: dict[tuple[str, int], list[dict]] = {}
            hour_row = official(official_hour, market)
            hour_fixed = asyncio.Event()

            async def collect() -> None:
                while True:
                    k = (await recv_json(ws, 300))["k"]
                    pushed.setdefault((k["i"], k["t"]), []).append(k)
                    if k["i"] == "1h" and as_rest(k, market) == hour_row:
                        hour_fixed.set()

            reader = asyncio.ensure_future(collect())
            result = await asyncio.to_thread(
                reconcile,
                HOUR,
                HOUR + timedelta(hours=1),
                ["BTCUSDT"],
                database_url=database_url,
                rest_url=fake.url,
                market=market,
            )
            assert result.repaired == {"BTCUSDT": 1}
            assert result.rebuilt
            # What the rebuild announces may arrive after reconcile returns.
            await asyncio.wait_for(hour_fixed.wait(), 15)
            await asyncio.sleep(1)
            reader.cancel()

    minute_events = pushed[("1m", to_ms(WRONG_MINUTE))]
    assert as_rest(minute_events[-1], market) == official(official_minute, market)
    assert minute_events[-1]["x"] is True
    hour_events = pushed[("1h", to_ms(HOUR))]
    assert as_rest(hour_events[-1], market) == official(official_hour, market)
    assert hour_events[-1]["x"] is True
    assert set(pushed) == {("1m", to_ms(WRONG_MINUTE)), ("1h", to_ms(HOUR))}
