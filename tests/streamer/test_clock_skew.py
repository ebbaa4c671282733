"""Minutes close on the exchange's time: a host clock 5 s off Binance's never closes one early.

Every version of a row the streamer ever marks closed is kept by a trigger, so a minute that
was published closed before its last trade arrived is caught even if a late trade corrects it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import psycopg
import pytest

from fakebinance.market import Trade
from fakebinance.server import FakeBinance
from streamer.aggregator import MINUTE_MS
from streamer.app import Streamer
from streamer.candle import minute_of
from tests.support.streamer import (
    KLINE_FIELDS,
    SPEED,
    assert_exact,
    market_minutes,
    streamer_config,
)

SYMBOLS = ("BTCUSDT", "QUIETUSDT")
SKEW_MS = 5_000
# The tests' close grace (streamer_config): how long after a minute ends a quiet one is probed.
GRACE_S = 2.0
# Every closed version of a live row, as a reader of the table could have seen it.
AUDIT = """
create table public.closed_versions as select * from market.candles_1m_live with no data;
create function public.keep_closed() returns trigger language plpgsql security definer as $$
begin
    if new.is_closed then
        insert into public.closed_versions select new.*;
    end if;
    return new;
end $$;
create trigger keep_closed after insert or update on market.candles_1m_live
    for each row execute function public.keep_closed();
"""


def audit_closed_versions(database_url: str) -> None:
    """Start keeping every closed version written to the live table."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(AUDIT)


def closed_versions(database_url: str) -> list[dict]:
    """Every closed version ever written, oldest first."""
    with (
        psycopg.connect(database_url) as conn,
        conn.cursor(row_factory=psycopg.rows.dict_row) as cur,
    ):
        cur.execute("select * from public.closed_versions order by updated_at")
        return cur.fetchall()


def assert_every_closed_version_exact(fake: FakeBinance, database_url: str) -> list[dict]:
    """No row was ever marked closed with contents other than the official kline's."""
    versions = closed_versions(database_url)
    for row in versions:
        open_ms = int(row["open_time"].timestamp() * 1000)
        (kline,) = fake.market.klines(row["symbol"], "1m", open_ms, open_ms, 1)
        for name in KLINE_FIELDS:
            assert row[name] == getattr(kline, name), (
                f"{row['symbol']} {row['open_time']} was closed with {name} {row[name]},"
                f" the official kline has {getattr(kline, name)}"
            )
    return versions


def minute_ending_late(fake: FakeBinance, symbol: str, after: int) -> tuple[int, Trade]:
    """A minute after ``after`` whose last trade falls so late that the host, 5 s ahead, has
    seen the minute and its close grace pass while the exchange has not reached that trade."""
    grace_ms = int(GRACE_S * 1000)
    for minute in range(after + MINUTE_MS, after + 30 * MINUTE_MS, MINUTE_MS):
        last = fake.market.last_trade_before(symbol, (minute + MINUTE_MS) * 1000)
        if last is not None and last.time_ms - 1 + SKEW_MS > minute + MINUTE_MS + grace_ms:
            return minute, last
    raise AssertionError(f"no {symbol} minute ends with a trade in its last seconds")


@contextlib.asynccontextmanager
async def skewed(fake: FakeBinance, database_url: str, skew_ms: int) -> AsyncIterator[Streamer]:
    """A streamer whose host clock runs ``skew_ms`` ahead of the exchange's (behind if < 0)."""
    config = streamer_config(fake, database_url, symbols=SYMBOLS, close_grace=GRACE_S)
    streamer = Streamer(config, clock_ms=lambda: fake.clock.now_ms() + skew_ms)
    stop = asyncio.Event()
    task = asyncio.ensure_future(streamer.run(stop))
    await asyncio.wait_for(streamer.ready.wait(), 10)
    try:
        yield streamer
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 40) == 0


@pytest.mark.slow
async def test_host_ahead_never_closes_a_minute_before_its_last_trade(
    fake: FakeBinance, database_url: str
) -> None:
    """The exchange pauses 1 ms before a minute's last trade, with the host 5 s ahead of it.

    By the host's clock that minute ended 4 s ago and the socket is silent, so a clock-only
    decision would close it without its last trade. On the exchange's time it is still open.
    """
    audit_closed_versions(database_url)
    async with skewed(fake, database_url, SKEW_MS):
        await market_minutes(fake, 1.2)
        minute, last = minute_ending_late(fake, "BTCUSDT", minute_of(fake.clock.now_ms()))
        # The exchange stands still just before that trade; the host clock stays 5 s ahead.
        fake.clock.set(last.time_us - 1_000, speed=0)
        # Long enough for the silence to exceed the close grace and for probe rounds to run.
        await asyncio.sleep(3 * GRACE_S)
        fake.clock.set(fake.clock.now_us(), speed=SPEED)
        await market_minutes(fake, 2.2)
    versions = assert_every_closed_version_exact(fake, database_url)
    closed = {int(v["open_time"].timestamp() * 1000) for v in versions if v["symbol"] == "BTCUSDT"}
    assert minute in closed, "the paused minute closes once its last trade is in"
    assert_exact(fake, database_url, SYMBOLS, min_rows=3)


@pytest.mark.slow
@pytest.mark.parametrize("skew_ms", [SKEW_MS, -SKEW_MS], ids=["host-ahead", "host-behind"])
async def test_quiet_minutes_still_close_with_a_skewed_host(
    fake: FakeBinance, database_url: str, skew_ms: int
) -> None:
    """Ahead or behind by 5 s, busy and quiet symbols close every minute, each exact."""
    audit_closed_versions(database_url)
    async with skewed(fake, database_url, skew_ms):
        await market_minutes(fake, 4.2)
    assert_every_closed_version_exact(fake, database_url)
    counts = assert_exact(fake, database_url, SYMBOLS, min_rows=3)
    assert counts["QUIETUSDT"] >= 3


@pytest.mark.slow
async def test_the_exchange_clock_keeps_up_with_a_market_faster_than_the_host(
    fake: FakeBinance, database_url: str
) -> None:
    """The market runs 20x the host's pace (a replay, or the soak's accelerated market) and
    serverTime is read once a minute: the streamer's estimate of the exchange's time keeps up
    from the trades' own event times, never ahead of the exchange, so quiet minutes close
    minutes earlier than the offset alone would let them, and every one is exact."""
    audit_closed_versions(database_url)
    anchor_ms, wall_anchor = fake.clock.now_ms(), time.monotonic()

    def host_ms() -> int:
        # A host clock on time at the start, then at wall pace while the market runs SPEED x.
        return anchor_ms + int((time.monotonic() - wall_anchor) * 1000)

    config = streamer_config(
        fake, database_url, symbols=SYMBOLS, close_grace=GRACE_S, clock_sync_interval=60.0
    )
    streamer = Streamer(config, clock_ms=host_ms)
    stop = asyncio.Event()
    task = asyncio.ensure_future(streamer.run(stop))
    await asyncio.wait_for(streamer.ready.wait(), 10)
    lags: list[int] = []
    try:
        for _ in range(40):
            await asyncio.sleep(0.1)
            before = fake.clock.now_ms()
            estimate = streamer.clock.now_ms()
            after = fake.clock.now_ms()
            assert estimate <= after, f"the estimate ran {estimate - after} ms ahead"
            lags.append(before - estimate)
        await market_minutes(fake, 2.5)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 40) == 0
    # By the offset alone the estimate would lag by the market time the host did not see
    # (19 market seconds per wall second, 76 s after 4 s); the trades keep it within seconds.
    assert sorted(lags)[len(lags) // 2] < 5_000, f"median lag {sorted(lags)[len(lags) // 2]} ms"
    assert_every_closed_version_exact(fake, database_url)
    counts = assert_exact(fake, database_url, SYMBOLS, min_rows=3)
    assert counts["QUIETUSDT"] >= 3, "quiet minutes close on the exchange's time"
