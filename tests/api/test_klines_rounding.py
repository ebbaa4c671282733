"""A candle no mart holds (3m, 1M, ...) is summed from exact minutes and rounded once, as
Binance sums a candle's trades and then writes it with 8 decimals: summing minutes already
rounded to 8 places can leave the candle a unit of the last place off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import psycopg

from include.platform.times import to_ms
from tests.support.api import RunningApi, write_live

START = datetime(2025, 3, 3, tzinfo=UTC)
# Each minute's quote volume has a ninth decimal (price x qty has up to 16): rounded, each is
# 1.00000000; the three minutes' exact sum, 3.000000012, is 3.00000001.
QUOTE = Decimal("1.000000004")


async def test_a_rolled_up_candle_rounds_its_exact_sum_not_its_rounded_minutes(
    database_url: str, api: RunningApi
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for minute in range(3):
            values = ("10", "11", "9", "10.5", "0.1", QUOTE, 1, "0.05", QUOTE / 2)
            write_live(conn, "ROUNDUSDT", START + timedelta(minutes=minute), values, True)
    params = {"symbol": "ROUNDUSDT", "startTime": to_ms(START), "limit": 10}
    async with httpx.AsyncClient(base_url=api.http, timeout=30) as client:
        minutes = (await client.get("/api/v3/klines", params={**params, "interval": "1m"})).json()
        [three] = (await client.get("/api/v3/klines", params={**params, "interval": "3m"})).json()
    assert [m[7] for m in minutes] == ["1.00000000"] * 3
    assert [m[10] for m in minutes] == ["0.50000000"] * 3
    assert three[7] == "3.00000001"  # 3 x 1.000000004 = 3.000000012
    assert three[10] == "1.50000001"  # 3 x 0.500000002 = 1.500000006
    assert three[1:5] == ["10.00000000", "11.00000000", "9.00000000", "10.50000000"]
