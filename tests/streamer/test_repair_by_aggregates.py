"""A trade-stream gap is fetched as Binance's aggregates by time, exact to the raw trade.

An aggregate stands for trades of one taker order at one price and one time, so it folds into a
candle exactly as they would, for 4 weight per 1,000 aggregates instead of 25 per 1,000 trades.
Where a gap's edge falls inside an aggregate, only that aggregate is asked trade by trade.
"""

from __future__ import annotations

from decimal import Decimal

from fakebinance.market import AggTrade
from fakebinance.server import FakeBinance
from include.platform.times import MINUTE_MS
from streamer.gap import Gap
from streamer.parser import Trade, format_scaled
from tests.support.streamer import running, streamer_config

SYMBOL = "BTCUSDT"


def asked_since(fake: FakeBinance, before: dict[str, int]) -> dict[str, int]:
    now = fake.stats()["requests_by_path"]
    return {p: n - before.get(p, 0) for p, n in now.items() if n > before.get(p, 0)}


def summary(trades: list[Trade]) -> tuple[int, Decimal, list[int]]:
    """Trade count, volume and every raw id the records stand for."""
    ids = [i for t in trades for i in range(t.first_id, t.last_id + 1)]
    volume = sum((Decimal(format_scaled(t.qty)) for t in trades), Decimal(0))
    return sum(t.count for t in trades), volume, ids


def expected(fake: FakeBinance, minute: int, lo: int, hi: int) -> tuple[int, Decimal, list[int]]:
    trades = [
        t
        for t in fake.market.trades(SYMBOL, minute * 1000, (minute + MINUTE_MS) * 1000)
        if lo <= t.id <= hi
    ]
    return len(trades), sum((t.qty for t in trades), Decimal(0)), [t.id for t in trades]


def past_minute(fake: FakeBinance) -> tuple[int, list[AggTrade]]:
    """A minute two minutes back (every trade of it on REST) and its aggregates."""
    now = fake.clock.now_ms()
    minute = now - now % MINUTE_MS - 2 * MINUTE_MS
    return minute, fake.market.agg_trades(SYMBOL, minute * 1000, (minute + MINUTE_MS) * 1000)


async def test_a_gap_whose_edges_cut_aggregates_is_exact_with_two_raw_pages(
    fake: FakeBinance, database_url: str
) -> None:
    async with running(streamer_config(fake, database_url, symbols=(SYMBOL,)), fake) as streamer:
        minute, aggs = past_minute(fake)
        multi: list[AggTrade] = [a for a in aggs if a.last_id > a.first_id]
        assert len(multi) >= 2, "the fake's minute has aggregates of several trades"
        first, last = multi[0], multi[-1]
        lo, hi = first.first_id + 1, last.last_id - 1
        gap = Gap(SYMBOL, "sequence", lo, hi, lo, hi, first.time_ms, last.time_ms)
        before = dict(fake.stats()["requests_by_path"])
        trades = await streamer.gaps.fetch.trades(gap)
        asked = asked_since(fake, before)
    assert summary(trades) == expected(fake, minute, lo, hi)
    # The two cut aggregates trade by trade, everything else as aggregates.
    assert asked.get("/api/v3/historicalTrades") == 2, asked
    assert asked.get("/api/v3/aggTrades", 0) >= 1, asked
    assert len(trades) < hi - lo + 1


async def test_a_startup_gap_starts_at_its_minutes_first_trade(
    fake: FakeBinance, database_url: str
) -> None:
    async with running(streamer_config(fake, database_url, symbols=(SYMBOL,)), fake) as streamer:
        minute, aggs = past_minute(fake)
        assert len(aggs) > 10
        # The stream's first trade: the first one of an aggregate in the middle of the minute.
        start = aggs[len(aggs) // 2]
        gap = Gap(SYMBOL, "startup", None, start.first_id - 1, None, 0, minute, start.time_ms)
        before = dict(fake.stats()["requests_by_path"])
        trades = await streamer.gaps.fetch.trades(gap)
        asked = asked_since(fake, before)
    assert gap.lo_seq == aggs[0].first_id == gap.first_missing_trade_id
    assert summary(trades) == expected(fake, minute, aggs[0].first_id, start.first_id - 1)
    assert "/api/v3/historicalTrades" not in asked, asked
