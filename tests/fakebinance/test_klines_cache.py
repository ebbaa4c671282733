"""The cached 1m klines path of the fake answers exactly what the per-bucket path answers."""

from __future__ import annotations

import random
from datetime import timedelta

import orjson

from fakebinance.clock import to_us
from fakebinance.market import Market, bucket_of

MIN_MS = 60_000


def per_bucket_1m(market: Market, symbol: str, start_ms: int, end_ms: int | None, limit: int):
    """The general interval walk, one 1m bucket at a time (the path every interval uses)."""
    st = market._sym(symbol)
    now_us = market.clock.now_us()
    upper = now_us // 1000 if end_ms is None else min(end_ms, now_us // 1000)
    lower = max(start_ms, st.listing_min * MIN_MS)
    out = []
    if upper < lower or limit <= 0:
        return out
    first, end = bucket_of("1m", lower // MIN_MS)
    first = first if first * MIN_MS >= start_ms else end
    while len(out) < limit and first * MIN_MS <= upper:
        kline = market._bucket(st, first, first + 1, now_us)
        if kline is not None:
            out.append(kline)
        first += 1
    return out


def test_cached_1m_klines_equal_the_per_bucket_walk(market: Market, now, halt, new_listing):
    """Across day edges, a halt, a listing and the running minute, both paths agree exactly."""
    now_ms = to_us(now) // 1000
    cases = [
        ("HALTUSDT", to_us(halt[0] - timedelta(hours=1)) // 1000, None, 1000),
        ("NEWUSDT", to_us(new_listing - timedelta(hours=2)) // 1000, None, 1000),
        ("BTCUSDT", now_ms - 90 * MIN_MS, now_ms + 10 * MIN_MS, 1000),
        ("ETHUSDT", (now_ms // 86_400_000) * 86_400_000 - 500 * MIN_MS + 7, None, 1000),
        ("QUIETUSDT", now_ms - 3 * 86_400_000, now_ms - 86_400_000, 5),
        ("BTCUSDT", now_ms + MIN_MS, None, 10),
    ]
    rnd = random.Random(7)
    for _ in range(12):
        symbol = rnd.choice(market.symbols)
        start = now_ms - rnd.randint(0, 12 * 86_400_000)
        end = None if rnd.random() < 0.3 else start + rnd.randint(-MIN_MS, 86_400_000)
        cases.append((symbol, start, end, rnd.choice([1, 7, 500, 1000])))
    for symbol, start, end, limit in cases:
        want = per_bucket_1m(market, symbol, start, end, limit)
        assert market.klines(symbol, "1m", start, end, limit) == want, (symbol, start, end)
        body = market.klines_1m_json(symbol, start, end, limit)
        assert body == orjson.dumps([k.to_rest_row() for k in want]), (symbol, start, end)
    assert any(case[0] == "HALTUSDT" for case in cases)


def test_cache_is_dropped_when_a_symbol_halts(market: Market, now):
    """A status change re-draws the symbol's minutes, and cached rows do not outlive it."""
    now_ms = to_us(now) // 1000
    start = now_ms - 30 * MIN_MS
    market.klines_1m_json("BTCUSDT", start, None, 1000)  # fills the day's cache
    market.set_status("BTCUSDT", "HALT")
    halted_from_ms = (now_ms // MIN_MS + 1) * MIN_MS
    market.clock.advance(300)
    after = market.klines_1m_json("BTCUSDT", start, None, 1000)
    want = [k.to_rest_row() for k in per_bucket_1m(market, "BTCUSDT", start, None, 1000)]
    assert after == orjson.dumps(want)
    assert max(row[0] for row in orjson.loads(after)) < halted_from_ms


def test_a_few_minutes_of_an_uncomputed_day_are_built_alone_and_equal(
    market: Market, config, frozen_clock, now, halt, new_listing
):
    """A request for at most an hour of a day the fake has not computed (a restart's missed
    minutes) builds those minutes from their own trades, leaves the day uncomputed, and answers
    the same bytes as the per-bucket walk of a second market: across a halt's edges, a listing,
    a quiet symbol's idle minutes, midnight and the running minute."""
    now_ms = to_us(now) // 1000
    midnight = (now_ms // 86_400_000) * 86_400_000
    halt_ms = to_us(halt[0]) // 1000
    cases = [
        ("BTCUSDT", now_ms - 20 * MIN_MS, None, 1000),
        ("QUIETUSDT", now_ms - 59 * MIN_MS, now_ms - 1, 1000),
        ("HALTUSDT", halt_ms - 10 * MIN_MS, halt_ms + 30 * MIN_MS, 1000),
        ("NEWUSDT", to_us(new_listing) // 1000 - 5 * MIN_MS, None, 7),
        ("ETHUSDT", midnight - 30 * MIN_MS, midnight + 20 * MIN_MS, 1000),
        ("ETHUSDT", now_ms - 45 * MIN_MS, now_ms - 40 * MIN_MS, 3),
    ]
    other = Market(config, frozen_clock)
    for symbol, start, end, limit in cases:
        body = market.klines_1m_json(symbol, start, end, limit)
        st = market._sym(symbol)
        day = (min(end or now_ms, now_ms) // MIN_MS - 1) // 1440
        assert not market._day_cached(st, day), (symbol, "the whole day was computed")
        want = per_bucket_1m(other, symbol, start, end, limit)
        assert body == orjson.dumps([k.to_rest_row() for k in want]), (symbol, start, end)
        assert body != b"[]" or symbol == "NEWUSDT"
