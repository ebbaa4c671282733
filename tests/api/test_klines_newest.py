"""The newest candles (no startTime, no endTime) are read from where the last such answer
began: the answer is the same as reading the whole history, across a hole, after new minutes
land, and when the window holds too few candles (rows deleted)."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from api.klines import KlinesRequest, execute, fetch_klines
from fakebinance.config import utc
from fakebinance.reference import RefKline
from include.timeframes import build_timeframes
from tests.support.dbt import load_klines, to_ms

# dbt builds the marts here: its files go to a temporary directory.
pytestmark = pytest.mark.usefixtures("dbt_target_path")
SYMBOL = "HOLEUSDT"
MINUTE = 60_000
BEFORE = to_ms(utc(2025, 3, 1))  # a day of minutes from here
AFTER = to_ms(utc(2025, 3, 12))  # then 11 days of nothing, then 30 minutes


def minutes(start: int, count: int) -> list[RefKline]:
    """Minutes whose price is their own minute number, so a wrong row shows."""
    out = []
    for i in range(count):
        t = start + i * MINUTE
        price = Decimal(t // MINUTE % 100_000) / 100
        volume = Decimal("1.5")
        out.append(
            RefKline(
                t,
                price,
                price,
                price,
                price,
                volume,
                t + MINUTE - 1,
                volume * price,
                3,
                volume,
                volume * price,
            )
        )
    return out


async def newest(url: str, interval: str, limit: int, end_ms: int | None = None) -> list:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await fetch_klines(conn, KlinesRequest(SYMBOL, interval, None, end_ms, limit))


async def whole_history(url: str, interval: str, limit: int, end_ms: int | None = None) -> list:
    """The answer with nothing remembered: the statement over every partition."""
    saved = dict(execute._OLDEST)
    execute._OLDEST.clear()
    try:
        return await newest(url, interval, limit, end_ms)
    finally:
        execute._OLDEST.clear()
        execute._OLDEST.update(saved)


@pytest.mark.timeout(240)
@pytest.mark.slow
async def test_newest_candles_across_a_hole_and_after_new_minutes(database_url: str) -> None:
    day = minutes(BEFORE, 1440)
    late = minutes(AFTER, 30)
    with psycopg.connect(database_url, autocommit=True) as conn:
        load_klines(conn, SYMBOL, day + late)
    build_timeframes(database_url, unit_tests=False)
    key = (SYMBOL, "1m", 500, 0)
    execute._OLDEST.pop(key, None)

    first = await newest(database_url, "1m", 500)
    expected = [k.open_time for k in (day + late)[-500:]]
    assert [r[0] for r in first] == expected
    assert [r[4] for r in first[:2]] == [f"{k.close:.8f}" for k in day[-470:-468]]
    assert execute._OLDEST[key] == expected[0]  # the next answer is read from there
    assert await newest(database_url, "1m", 500) == first
    # A window holding 30 candles, as if rows before it had been deleted: the whole history.
    execute._OLDEST[key] = late[0].open_time
    assert await newest(database_url, "1m", 500) == first
    assert execute._OLDEST[key] == expected[0]

    # Stored (5m, 1h, 1d) and summed on read from a stored interval (3m, 30m, 2h, 12h).
    for interval in ("5m", "1h", "1d", "3m", "30m", "2h", "12h"):
        for _ in range(2):  # the first remembers where its answer began, the second uses it
            assert await newest(database_url, interval, 100) == await whole_history(
                database_url, interval, 100
            ), interval
        # With an endTime (inside the hole) nothing remembered is used.
        end = AFTER - 3 * 3_600_000
        assert await newest(database_url, interval, 10, end) == await whole_history(
            database_url, interval, 10, end
        ), interval

    # A summed interval whose window falls short: the whole history, the same answer.
    whole = await whole_history(database_url, "3m", 400)
    await newest(database_url, "3m", 400)
    execute._OLDEST[(SYMBOL, "3m", 400, 0)] = late[0].open_time
    assert await newest(database_url, "3m", 400) == whole

    # New minutes after the remembered newest one (not built by dbt yet): they are the answer.
    fresh = minutes(AFTER + 30 * MINUTE, 600)
    with psycopg.connect(database_url, autocommit=True) as conn:
        load_klines(conn, SYMBOL, fresh)
    got = await newest(database_url, "1m", 500)
    assert [r[0] for r in got] == [k.open_time for k in fresh[-500:]]
    assert execute._OLDEST[key] == fresh[-500].open_time
    for interval in ("1m", "15m", "1h", "4h", "3m", "2h"):
        assert await newest(database_url, interval, 50) == await whole_history(
            database_url, interval, 50
        ), interval
