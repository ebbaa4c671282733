"""The fake's served klines (market/klines.py's numpy fast path) equal the Decimal oracle's.

Property-style: each seed draws a week, a moment inside it (so the current 1m, 4h, 1d and 1w
klines are unfinished), a window start at an odd offset before that Monday, a halt and a
listing. Every interval Binance has that the product builds is checked for a busy symbol, the
tiny-priced PEPEUSDT, a quiet symbol with idle minutes, a halted one and a new listing.
"""

from __future__ import annotations

import bisect
import functools
import random
from datetime import timedelta
from decimal import Decimal

import orjson
import pytest

from fakebinance.clock import MarketClock, to_us
from fakebinance.config import MarketConfig, SymbolSpec, default_symbols, quiet_symbol, utc
from fakebinance.market import Market, Trade
from fakebinance.reference import RefKline, first_bucket_ms, official_klines, trading_predicate

pytestmark = pytest.mark.timeout(60)

SEEDS = (1, 7, 42, 2024)
INTERVALS = ("1m", "5m", "15m", "1h", "4h", "1d", "1w")
SYMBOLS = ("BTCUSDT", "PEPEUSDT", "QUIETUSDT", "HALTUSDT", "NEWUSDT")
FIRST_MONDAY = utc(2024, 1, 1)


def draw_case(seed: int) -> tuple[Market, int]:
    """A market for ``seed`` whose clock stands inside a random week; and the window start."""
    rng = random.Random(seed)
    monday = FIRST_MONDAY + timedelta(weeks=rng.randrange(100))
    now = monday + timedelta(hours=rng.randrange(24, 34), seconds=rng.uniform(0, 3600))
    halt_start = monday + timedelta(minutes=rng.randrange(60, 1400), seconds=rng.randrange(60))
    halt = (halt_start, halt_start + timedelta(minutes=rng.randrange(2, 90)))
    listing = monday + timedelta(minutes=rng.randrange(30, 1400), seconds=rng.randrange(60))
    symbols = (
        *(s for s in default_symbols() if s.symbol != "ETHUSDT"),
        quiet_symbol(listed_at=utc(2023, 6, 1)),
        SymbolSpec("HALTUSDT", Decimal("12.5"), 3, 3, 8.0, utc(2023, 6, 1), halts=(halt,)),
        SymbolSpec("NEWUSDT", Decimal("2.5"), 4, 1, 10.0, listing),
    )
    market = Market(MarketConfig(seed, symbols), MarketClock(now, speed=0))
    start = monday - timedelta(minutes=rng.randrange(1, 600), milliseconds=rng.randrange(60_000))
    return market, to_us(start) // 1000


@functools.cache
def oracle_case(seed: int) -> tuple[Market, int, dict[str, dict[str, list[RefKline]]]]:
    """The drawn market, its window start and the oracle's klines per symbol and interval."""
    market, start_ms = draw_case(seed)
    return market, start_ms, {s: oracle_by_interval(market, s, start_ms) for s in SYMBOLS}


def oracle_by_interval(market: Market, symbol: str, start_ms: int) -> dict[str, list[RefKline]]:
    """Oracle klines from ``start_ms`` to now for every interval, reading the trades once."""
    now_us = market.clock.now_us()
    spec = market.spec(symbol)
    trading = trading_predicate(spec.listed_at, spec.halts)
    trades = market.trades(symbol, start_ms * 1000, now_us + 1)
    times = [t.time_us for t in trades]
    out = {}
    for interval in INTERVALS:
        first = first_bucket_ms(interval, start_ms)
        out[interval] = official_klines(
            trades,
            interval,
            start_ms,
            now_us // 1000 + 1,
            trading=trading,
            prev_close=_close_before(market, symbol, trades, times, first * 1000),
            now_us=now_us,
        )
    return out


def _close_before(
    market: Market, symbol: str, trades: list[Trade], times: list[int], before_us: int
) -> Decimal | None:
    index = bisect.bisect_left(times, before_us)
    if index:
        return trades[index - 1].price
    prev = market.last_trade_before(symbol, before_us)
    return prev.price if prev else None


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_cases_cover_halts_idle_minutes_listing_and_unfinished_klines(seed: int) -> None:
    """The drawn cases hit what the property is about, so a passing run means something."""
    market, start_ms, oracle = oracle_case(seed)
    now_ms = market.clock.now_us() // 1000
    minutes = {symbol: by_interval["1m"] for symbol, by_interval in oracle.items()}
    opens = {s: [k.open_time for k in ks] for s, ks in minutes.items()}
    span = (now_ms - start_ms) // 60_000
    assert len(opens["BTCUSDT"]) >= span  # every minute, the running one included
    assert len(opens["HALTUSDT"]) < len(opens["BTCUSDT"])  # dark minutes have no kline
    assert sum(k.trade_count == 0 for k in minutes["QUIETUSDT"]) > span // 2
    listed_ms = to_us(market.spec("NEWUSDT").listed_at) // 1000
    assert start_ms < listed_ms <= opens["NEWUSDT"][0] < now_ms  # listed inside the window
    assert minutes["BTCUSDT"][-1].close_time > now_ms  # the unfinished minute
    assert oracle["BTCUSDT"]["1w"][-1].close_time > now_ms  # and the unfinished week
    assert min(k.low for k in minutes["PEPEUSDT"]) < Decimal("0.0001")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow
def test_served_klines_equal_oracle(seed: int) -> None:
    """Every interval and symbol, paged from startTime and newest-first, equals the oracle."""
    market, start_ms, oracle = oracle_case(seed)
    now_ms = market.clock.now_us() // 1000
    for symbol, want in oracle.items():
        for interval, klines in want.items():
            rows = [k.to_rest_row() for k in klines]
            assert rows, (seed, symbol, interval)
            got = market.klines(symbol, interval, start_ms, now_ms, limit=10**6)
            assert [k.to_rest_row() for k in got] == rows, (seed, symbol, interval)
            newest = market.klines(symbol, interval, limit=min(len(rows), 50))
            assert [k.to_rest_row() for k in newest] == rows[-50:], (seed, symbol, interval)
        # The exact bytes /api/v3/klines serves for 1m pages, from the per-day row caches.
        served = market.klines_1m_json(symbol, start_ms, now_ms, 10**6)
        assert orjson.loads(served) == [k.to_rest_row() for k in want["1m"]], (seed, symbol)
