"""Tests of the deterministic synthetic market (no server)."""

from __future__ import annotations

import hashlib
import itertools
import sys
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from fakebinance.clock import MarketClock, to_us
from fakebinance.config import MarketConfig, SymbolSpec, make_symbols, utc
from fakebinance.market import MINUTE_US, Market

DAY_US = 86_400_000_000


def day_us(y: int, m: int, d: int) -> int:
    return to_us(utc(y, m, d))


def test_same_seed_same_trades_whatever_the_split(config, frozen_clock):
    """Two markets with one seed give identical trades, however the range is cut."""
    a, b = Market(config, frozen_clock), Market(config, frozen_clock)
    start = day_us(2025, 3, 10) + 7 * 3_600_000_000 + 12_345
    end = start + 3 * 3_600_000_000
    whole = a.trades("BTCUSDT", start, end)
    cuts = sorted({start, end, *(start + k * 1_234_567_891 for k in range(1, 8))})
    # Ask b in reverse order so its caches fill differently.
    pieces = [b.trades("BTCUSDT", lo, hi) for lo, hi in reversed(list(itertools.pairwise(cuts)))]
    joined = [t for piece in reversed(pieces) for t in piece]
    assert len(whole) > 1000
    assert whole == joined
    assert a.agg_trades("ETHUSDT", start, end) == b.agg_trades("ETHUSDT", start, end)


def test_different_seed_different_trades(config_factory, frozen_clock):
    """Another seed gives another market."""
    a = Market(config_factory(1), frozen_clock)
    b = Market(config_factory(2), frozen_clock)
    start = day_us(2025, 3, 10)
    ta, tb = (
        a.trades("BTCUSDT", start, start + 600_000_000),
        b.trades("BTCUSDT", start, start + 600_000_000),
    )
    assert [(t.price, t.qty, t.time_us) for t in ta] != [(t.price, t.qty, t.time_us) for t in tb]


def test_trade_and_agg_ids_contiguous_across_days(market):
    """Trade ids and aggTrade ids have no gap across hour and day boundaries."""
    start = day_us(2025, 3, 9) + 23 * 3_600_000_000
    end = start + 2 * 3_600_000_000
    trades = market.trade_arrays("BTCUSDT", start, end)
    assert np.all(np.diff(trades.ids) == 1)
    assert np.all(np.diff(trades.time_us) >= 0)
    aggs = market.agg_arrays("BTCUSDT", start, end)
    assert np.all(np.diff(aggs.ids) == 1)
    assert aggs.first_id[0] == trades.ids[0]
    assert aggs.last_id[-1] == trades.ids[-1]
    assert np.all(aggs.first_id[1:] == aggs.last_id[:-1] + 1)


def test_agg_trades_group_same_price_side_time(market):
    """Each aggTrade covers l-f+1 raw trades of one price, side and time, qty summed."""
    start = day_us(2025, 3, 10) + 5 * 3_600_000_000
    trades = {t.id: t for t in market.trades("BTCUSDT", start, start + 1_800_000_000)}
    aggs = market.agg_trades("BTCUSDT", start, start + 1_800_000_000)
    assert sum(a.last_id - a.first_id + 1 for a in aggs) == len(trades)
    assert any(a.last_id > a.first_id for a in aggs)
    for a in aggs:
        members = [trades[i] for i in range(a.first_id, a.last_id + 1)]
        assert {(t.price, t.is_buyer_maker, t.time_us) for t in members} == {
            (a.price, a.is_buyer_maker, a.time_us)
        }
        assert sum(t.qty for t in members) == a.qty


def test_values_on_grid_and_exact_quote(market):
    """Prices sit on the tick grid, qty on the lot grid (>= 1 lot), quoteQty = p*q exactly."""
    start = day_us(2025, 3, 10)
    for symbol in ("BTCUSDT", "PEPEUSDT", "QUIETUSDT"):
        spec = market.spec(symbol)
        trades = market.trades(symbol, start, start + 2 * 3_600_000_000)
        assert trades
        for t in trades:
            assert t.price > 0
            assert t.price % spec.tick_size == 0
            assert t.qty >= spec.step_size
            assert t.qty % spec.step_size == 0
            assert t.quote_qty == t.price * t.qty
            assert t.is_best_match is True


def test_quiet_symbol_has_idle_minutes(market):
    """A quiet symbol leaves most minutes without trades."""
    start = day_us(2025, 3, 10)
    trades = market.trades("QUIETUSDT", start, start + DAY_US)
    minutes = {t.time_us // MINUTE_US for t in trades}
    assert 0 < len(minutes) < 1440 * 0.5


def test_no_trades_before_listing_or_inside_halt(market, halt, new_listing):
    """Listing and halts remove whole minutes; ids stay contiguous around them."""
    listed = to_us(new_listing)
    first_minute = (listed + MINUTE_US - 1) // MINUTE_US * MINUTE_US
    trades = market.trades("NEWUSDT", listed - 3_600_000_000, listed + 3_600_000_000)
    assert trades
    assert trades[0].id == 0
    assert min(t.time_us for t in trades) >= first_minute
    a, b = halt
    lo, hi = to_us(a) // MINUTE_US * MINUTE_US, to_us(b)
    around = market.trades("HALTUSDT", lo - 3_600_000_000, hi + 3_600_000_000)
    assert not [t for t in around if lo <= t.time_us < hi]
    assert [t.id for t in around] == list(range(around[0].id, around[0].id + len(around)))


def test_from_id_matches_time_ranges(market):
    """trades_from_id / agg_trades_from_id return the same trades as the time queries."""
    start = day_us(2025, 3, 10) + 3_600_000_000 * 23 + 59 * MINUTE_US
    by_time = market.trade_arrays("BTCUSDT", start, start + 5 * MINUTE_US)
    by_id = market.trades_from_id("BTCUSDT", int(by_time.ids[0]), len(by_time.ids))
    assert by_id.ids.tolist() == by_time.ids.tolist()
    assert by_id.price.tolist() == by_time.price.tolist()
    aggs = market.agg_arrays("BTCUSDT", start, start + 5 * MINUTE_US)
    aggs_by_id = market.agg_trades_from_id("BTCUSDT", int(aggs.ids[0]), len(aggs.ids))
    assert aggs_by_id.first_id.tolist() == aggs.first_id.tolist()


def test_from_id_stops_at_market_clock(market, frozen_clock):
    """Trades later than the market clock do not exist yet."""
    now = frozen_clock.now_us()
    last = market.last_trade_before("BTCUSDT", now + 1)
    assert last is not None
    assert last.time_us <= now
    got = market.trades_from_id("BTCUSDT", last.id - 5, 100)
    assert got.ids.tolist()[-1] == last.id


def python_calls_to_make_a_day(trades_per_minute: float) -> tuple[int, int]:
    """(trades, Python-level calls: functions and builtins) to generate one day of a symbol's
    trades and its 1m klines."""
    spec = make_symbols(1, trades_per_minute=trades_per_minute)[0]
    m = Market(MarketConfig(7, (spec,)), MarketClock(start=utc(2025, 6, 2), speed=0))
    calls = 0

    def count(_frame: object, event: str, _arg: object) -> None:
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(count)
    try:
        arr = m.trade_arrays(spec.symbol, day_us(2025, 6, 1), day_us(2025, 6, 2), keep=False)
        stats = m.minute_klines_day(spec.symbol, day_us(2025, 6, 1) // DAY_US)
    finally:
        sys.setprofile(None)
    assert int(stats.count.sum()) == len(arr.ids)
    return len(arr.ids), calls


def test_day_generation_is_vectorised():
    """A day of trades and klines costs the same Python work whatever the number of trades (the
    trades are made in numpy, block by block), which is what keeps a day of a 60 trades/min
    symbol near a second. Counted in calls, not seconds, so a loaded machine cannot fail it;
    the seconds are bench work."""
    trades, calls = python_calls_to_make_a_day(60.0)
    assert 20_000 < trades < 250_000
    busy_trades, busy_calls = python_calls_to_make_a_day(600.0)
    assert busy_trades > 5 * trades
    # Ten times the trades: not one more call per hundred of them.
    assert busy_calls - calls < (busy_trades - trades) // 100, (calls, busy_calls)


def test_set_status_halts_from_next_minute_keeping_history(config):
    """Leaving TRADING stops trades from the next minute; earlier trades do not change."""
    clock = MarketClock(start=utc(2025, 3, 12, 12, 0, 30), speed=0)
    m = Market(config, clock)
    now = clock.now_us()
    before = m.trades("BTCUSDT", now - 3_600_000_000, now)
    applies_from = m.set_status("BTCUSDT", "BREAK")
    assert m.spec("BTCUSDT").status == "BREAK"
    assert m.trades("BTCUSDT", now - 3_600_000_000, now) == before
    next_minute = (now // MINUTE_US + 1) * MINUTE_US
    assert applies_from * 1000 == next_minute
    assert m.set_status("BTCUSDT", "HALT") is None  # still not trading: nothing changes
    assert m.trades("BTCUSDT", next_minute, next_minute + 3_600_000_000) == []
    clock.advance(600)
    resumes_from = m.set_status("BTCUSDT", "TRADING")
    assert resumes_from * 1000 == (clock.now_us() // MINUTE_US + 1) * MINUTE_US
    later = clock.now_us() + 2 * MINUTE_US
    assert m.trades("BTCUSDT", later, later + 600_000_000)


def test_list_symbol_at_runtime(config, frozen_clock):
    """A symbol listed at runtime trades from its listing on."""
    m = Market(config, frozen_clock)
    listed = frozen_clock.now() - timedelta(hours=2)
    m.list_symbol(SymbolSpec("LATEUSDT", Decimal("5"), 3, 2, 30.0, listed))
    assert m.trades("LATEUSDT", to_us(listed), frozen_clock.now_us())
    with pytest.raises(ValueError, match="already listed"):
        m.list_symbol(m.spec("LATEUSDT"))


def test_output_is_pinned(market, halt):
    """Seed 42 yields these very trades, aggTrades and klines: a change to the market's code that
    moves a single draw shows here, though every other test (they compare the market with
    itself or with the oracle) would still pass; so does a numpy whose random streams differ.
    A deliberate change of the generator updates the digest."""
    start = to_us(halt[0]) - 20 * MINUTE_US
    digest = hashlib.sha256()
    for symbol in ("BTCUSDT", "PEPEUSDT", "HALTUSDT", "NEWUSDT"):
        for columns in (
            market.trade_arrays(symbol, start, start + 45 * MINUTE_US),
            market.agg_arrays(symbol, start, start + 45 * MINUTE_US),
            market.trades_from_id(symbol, 12_345, 300),
        ):
            for column in columns:
                digest.update(column.tobytes())
    for symbol in ("QUIETUSDT", "HALTUSDT", "NEWUSDT"):
        digest.update(market.klines_1m_json(symbol, start // 1000, None, 1000))
        digest.update(repr(market.klines(symbol, "1h", limit=40)).encode())
    # The longer intervals of symbols listed lately: a few days of trades, not years.
    for symbol in ("HALTUSDT", "NEWUSDT"):
        for interval in ("1m", "15m", "1d", "3d", "1w", "1M"):
            digest.update(repr(market.klines(symbol, interval, limit=40)).encode())
    assert digest.hexdigest()[:16] == "9f79797b52d30c68"
