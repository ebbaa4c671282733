"""REST klines of the fake equal the Decimal reference applied to the market's trades."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from fakebinance.clock import to_us
from fakebinance.config import utc
from fakebinance.market import Market
from fakebinance.reference import oracle_klines

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]
MIN_MS = 60_000


def ms(dt: datetime) -> int:
    return to_us(dt) // 1000


def reference_rows(
    market: Market, symbol: str, interval: str, start_ms: int, end_ms: int
) -> list[list]:
    """Oracle rows for buckets opening in [start_ms, end_ms), as of the market clock."""
    return [k.to_rest_row() for k in oracle_klines(market, symbol, start_ms, end_ms, interval)]


async def rest_klines(session, fake, **params) -> list[list]:
    params = {k: str(v) for k, v in params.items()}
    async with session.get(f"{fake.url}/api/v3/klines", params=params) as r:
        assert r.status == 200, await r.text()
        return await r.json()


@pytest.mark.parametrize(
    ("symbol", "interval", "start", "end"),
    [
        ("BTCUSDT", "1m", utc(2025, 3, 11, 22, 50), utc(2025, 3, 12, 1, 10)),
        ("ETHUSDT", "5m", utc(2025, 3, 11, 20), utc(2025, 3, 12, 2)),
        ("PEPEUSDT", "1h", utc(2025, 3, 11, 0), utc(2025, 3, 12, 0)),
        ("BTCUSDT", "4h", utc(2025, 3, 11, 0), utc(2025, 3, 12, 0)),
        ("HALTUSDT", "3d", utc(2025, 2, 1), utc(2025, 3, 12)),
        ("QUIETUSDT", "1d", utc(2025, 2, 1), utc(2025, 3, 12)),
    ],
)
async def test_rest_klines_equal_reference(fake, session, symbol, interval, start, end):
    """Closed klines over a range equal the oracle's, field for field."""
    got = await rest_klines(
        session,
        fake,
        symbol=symbol,
        interval=interval,
        startTime=ms(start),
        endTime=ms(end) - 1,
        limit=1000,
    )
    want = reference_rows(fake.market, symbol, interval, ms(start), ms(end))
    assert got
    assert got == want


async def test_weekly_klines_start_on_monday(fake, session):
    """1w klines open on Monday 00:00 UTC and equal the oracle (incl. the current week)."""
    got = await rest_klines(
        session, fake, symbol="QUIETUSDT", interval="1w", startTime=ms(utc(2025, 1, 29)), limit=10
    )
    opens = [datetime.fromtimestamp(r[0] / 1000, UTC) for r in got]
    assert opens[0] == utc(2025, 2, 3)
    assert all(o.weekday() == 0 and o.hour == 0 for o in opens)
    assert opens[-1] == utc(2025, 3, 10)  # the current, unfinished week
    assert got == reference_rows(
        fake.market, "QUIETUSDT", "1w", ms(utc(2025, 2, 3)), ms(utc(2025, 3, 17))
    )


@pytest.mark.slow
async def test_3d_klines_run_on_each_symbols_own_grid(fake, session):
    """3d klines open every three days from the symbol's first day of trading, as Binance's do:
    BTCUSDT (listed 2017-08-17, as on Binance) on 2024-12-29, 2025-01-01, ... (Binance's real
    BTCUSDT 3d kline opens at 1735430400000, 2024-12-29), PEPEUSDT (listed here 2023-05-05)
    on its own grid; both equal the oracle."""
    for symbol, listed, first in (
        ("BTCUSDT", utc(2017, 8, 17), utc(2024, 12, 29)),
        ("PEPEUSDT", utc(2023, 5, 5), None),
    ):
        got = await rest_klines(
            session, fake, symbol=symbol, interval="3d", startTime=ms(utc(2024, 12, 28)), limit=4
        )
        opens = [r[0] for r in got]
        assert all((o - ms(listed)) % (3 * 86_400_000) == 0 for o in opens), (symbol, opens)
        if first is not None:
            assert opens[0] == ms(first) == 1735430400000
        assert got == reference_rows(
            fake.market, symbol, "3d", ms(utc(2024, 12, 28)), opens[-1] + 3 * 86_400_000
        )


@pytest.mark.slow
async def test_monthly_klines_are_calendar_months(fake, session):
    """1M klines cover calendar months; the current month is included and partial."""
    got = await rest_klines(
        session, fake, symbol="QUIETUSDT", interval="1M", startTime=ms(utc(2024, 12, 31, 12))
    )
    assert [r[0] for r in got] == [ms(utc(2025, 1, 1)), ms(utc(2025, 2, 1)), ms(utc(2025, 3, 1))]
    assert got[0][6] == ms(utc(2025, 2, 1)) - 1
    assert got == reference_rows(
        fake.market, "QUIETUSDT", "1M", ms(utc(2025, 1, 1)), ms(utc(2025, 4, 1))
    )


async def test_current_unfinished_kline_is_included(fake, session, now):
    """Without startTime the newest rows end with the open minute, built from trades so far."""
    got = await rest_klines(session, fake, symbol="BTCUSDT", interval="1m", limit=3)
    minute = ms(now) // MIN_MS * MIN_MS
    assert [r[0] for r in got] == [minute - 2 * MIN_MS, minute - MIN_MS, minute]
    assert got == reference_rows(fake.market, "BTCUSDT", "1m", minute - 2 * MIN_MS, minute + MIN_MS)
    before = got[-1]
    fake.clock.advance(25)
    later = await rest_klines(session, fake, symbol="BTCUSDT", interval="1m", limit=1)
    assert later[0][0] == minute
    assert later[0][8] >= before[8]
    assert later == reference_rows(fake.market, "BTCUSDT", "1m", minute, minute + MIN_MS)


async def test_idle_minutes_repeat_previous_close(fake, session):
    """A quiet symbol gets a kline for every trading minute; idle ones carry the last close."""
    start = ms(utc(2025, 3, 10))
    rows = []
    for offset in (0, 1000):
        rows += await rest_klines(
            session,
            fake,
            symbol="QUIETUSDT",
            interval="1m",
            startTime=start + offset * MIN_MS,
            limit=1000,
        )
    day = [r for r in rows if r[0] < start + 1440 * MIN_MS]
    assert len(day) == 1440
    idle = [r for r in day if r[8] == 0]
    assert len(idle) > 700
    for prev, row in itertools.pairwise(day):
        if row[8] == 0:
            assert row[1] == row[2] == row[3] == row[4] == prev[4]
            assert row[5] == row[7] == row[9] == row[10] == "0.00000000"
    assert day == reference_rows(fake.market, "QUIETUSDT", "1m", start, start + 1440 * MIN_MS)


async def test_halt_has_no_klines(fake, session, halt):
    """Minutes overlapping a halt have no kline, hourly rows merge only the rest."""
    start = ms(utc(2025, 3, 11, 9, 50))
    rows = await rest_klines(
        session,
        fake,
        symbol="HALTUSDT",
        interval="1m",
        startTime=start,
        endTime=start + 30 * MIN_MS - 1,
    )
    opens = {r[0] for r in rows}
    dark = {ms(utc(2025, 3, 11, 10, m)) for m in range(5)}
    assert not opens & dark
    assert opens == {start + k * MIN_MS for k in range(30)} - dark
    assert rows == reference_rows(fake.market, "HALTUSDT", "1m", start, start + 30 * MIN_MS)
    hourly = await rest_klines(
        session, fake, symbol="HALTUSDT", interval="1h", startTime=ms(utc(2025, 3, 11, 10)), limit=1
    )
    minutes = await rest_klines(
        session,
        fake,
        symbol="HALTUSDT",
        interval="1m",
        startTime=ms(utc(2025, 3, 11, 10)),
        limit=55,
    )
    assert sum(r[8] for r in minutes) == hourly[0][8]
    assert minutes[0][1] == hourly[0][1]


async def test_no_klines_before_listing(fake, session, new_listing):
    """A new symbol's klines start at its first trading minute, also when asked from before."""
    rows = await rest_klines(
        session, fake, symbol="NEWUSDT", interval="1m", startTime=ms(utc(2025, 3, 12)), limit=5
    )
    first_minute = (ms(new_listing) // MIN_MS + 1) * MIN_MS
    assert rows
    assert rows[0][0] >= first_minute
    daily = await rest_klines(session, fake, symbol="NEWUSDT", interval="1d", limit=5)
    assert len(daily) == 1
    assert daily[0][0] == ms(utc(2025, 3, 12))


async def test_newest_rows_without_start_time(fake, session):
    """Without startTime the newest `limit` rows up to endTime come back, oldest first."""
    end = ms(utc(2025, 3, 11, 6, 0))
    rows = await rest_klines(session, fake, symbol="ETHUSDT", interval="15m", endTime=end, limit=4)
    assert [r[0] for r in rows] == [end - k * 15 * MIN_MS for k in (3, 2, 1, 0)]


async def test_agg_trade_counts_sum_to_kline_trade_count(fake, session):
    """aggTrades' l-f+1 over a minute add up to that minute's kline trade_count."""
    start = ms(utc(2025, 3, 11, 14, 7))
    kline = (
        await rest_klines(session, fake, symbol="BTCUSDT", interval="1m", startTime=start, limit=1)
    )[0]
    async with session.get(
        f"{fake.url}/api/v3/aggTrades",
        params={
            "symbol": "BTCUSDT",
            "startTime": str(start),
            "endTime": str(start + MIN_MS - 1),
            "limit": "1000",
        },
    ) as r:
        aggs = await r.json()
    assert sum(a["l"] - a["f"] + 1 for a in aggs) == kline[8] > len(aggs) > 0
