"""ALL: ~2,000 skewed symbols at a set market-wide rate, with listings and delistings mid-run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import aiohttp
import orjson
import pytest

from fakebinance.clock import MarketClock, to_us
from fakebinance.config import ALL_SYMBOLS, all_market, utc
from fakebinance.market import Market
from fakebinance.server import FakeBinance

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
# Two seconds after a 15-minute block starts: a window of ten minutes stays in that block.
START = utc(2025, 3, 12, 9, 0, 2)
WINDOW_S = 600


def counts(market: Market, start_us: int, seconds: int) -> dict[str, int]:
    """Raw trades per symbol in [start, start + seconds)."""
    end_us = start_us + seconds * 1_000_000
    return {
        s: len(market.trade_arrays(s, start_us, end_us, keep=False).ids) for s in market.symbols
    }


@pytest.mark.slow
def test_all_is_binance_sized_and_skewed() -> None:
    """A few symbols carry most trades, the long tail trades rarely, and every symbol trades."""
    config = all_market(START, trades_per_second=460.0, listings=0, delistings=0)
    assert len(config.symbols) == ALL_SYMBOLS == 2000
    market = Market(config, MarketClock(start=START, speed=0))
    per_symbol = counts(market, to_us(START), WINDOW_S)
    ranked = sorted(per_symbol.values(), reverse=True)
    total = sum(ranked)
    assert sum(ranked[:10]) > 0.45 * total, "the top 10 should carry about half the trades"
    assert sum(ranked[1000:]) < 0.10 * total, "the bottom half should carry under a tenth"
    # The busiest symbol trades thousands of times more than the quietest ones.
    assert ranked[0] > 1000 * max(1, ranked[-100])
    # Tail symbols trade about once a minute or less, and still trade over a day.
    assert ranked[-1] <= WINDOW_S / 60 * 2
    assert per_symbol["ALL0001USDT"] == ranked[0]
    rarest = "ALL2000USDT"
    day = counts(market, to_us(START - timedelta(days=1)), 86_400)[rarest]
    assert day > 100


@pytest.mark.parametrize("rate", [460.0, 5000.0])
@pytest.mark.slow
def test_the_market_trades_at_the_rate_set(rate: float) -> None:
    """Trades per second over the whole market, over ten minutes, within 15% of the rate set."""
    market = Market(
        all_market(START, trades_per_second=rate, listings=0, delistings=0),
        MarketClock(start=START, speed=0),
    )
    measured = sum(counts(market, to_us(START), WINDOW_S).values()) / WINDOW_S
    assert abs(measured - rate) < 0.15 * rate, f"{measured:.0f} trades/s for {rate:.0f} set"


@pytest.mark.slow
def test_the_rate_set_holds_minute_after_minute() -> None:
    """A bench measures a window of seconds: every minute of ALL offers the rate set (within
    3%), not the rate a wandering top symbol makes of that minute."""
    rate = 42_000.0
    market = Market(
        all_market(START, trades_per_second=rate, listings=0, delistings=0),
        MarketClock(start=START, speed=0),
    )
    for minute in range(5):
        start_us = to_us(START) + minute * 60_000_000
        measured = sum(counts(market, start_us, 60).values()) / 60
        assert abs(measured - rate) < 0.03 * rate, f"minute {minute}: {measured:.0f} trades/s"


def test_listings_and_delistings_are_spread_after_the_start() -> None:
    config = all_market(START, listings=2, delistings=3, events_after=60, events_every=30)
    new = [s for s in config.symbols if s.symbol.startswith("NEW")]
    gone = [s for s in config.symbols if s.halts]
    assert [s.symbol for s in new] == ["NEW0001USDT", "NEW0002USDT"]
    assert len(gone) == 3
    moments = sorted([s.listed_at for s in new] + [s.halts[0][0] for s in gone])
    assert moments == [START + timedelta(seconds=60 + 30 * i) for i in range(5)]
    assert all(s.halts[0][1].year == 9000 for s in gone)


@pytest.mark.slow
async def test_listings_and_delistings_show_in_exchange_info_and_streams() -> None:
    """Before: NEW symbols are not listed, the delisted ones trade. After: NEW symbols are
    TRADING and stream trades; the delisted ones are in BREAK and their streams go quiet."""
    config = all_market(
        START, n_symbols=200, trades_per_second=2000.0, listings=2, delistings=2, events_after=30
    )
    new = [s.symbol for s in config.symbols if s.symbol.startswith("NEW")]
    gone = [s.symbol for s in config.symbols if s.halts]
    last_change = max(
        [s.listed_at for s in config.symbols] + [s.halts[0][0] for s in config.symbols if s.halts]
    )
    clock = MarketClock(start=START, speed=0)
    async with FakeBinance(config, clock=clock) as fake, aiohttp.ClientSession() as http:

        async def statuses() -> dict[str, str]:
            async with http.get(f"{fake.url}/api/v3/exchangeInfo") as r:
                body = await r.json()
            return {s["symbol"]: s["status"] for s in body["symbols"]}

        before = await statuses()
        assert len(before) == 200
        assert not set(new) & set(before)
        assert all(before[s] == "TRADING" for s in gone)

        streams = "/".join(f"{s.lower()}@trade" for s in (*new, *gone))
        async with http.ws_connect(f"{fake.url}/stream?streams={streams}") as ws:
            # Past every change and one minute more, in steps the feed delivers one by one.
            seen: dict[str, list[int]] = {s: [] for s in (*new, *gone)}
            target = to_us(last_change) + 120_000_000
            while clock.now_us() < target:
                clock.advance(5.0)
                await asyncio.sleep(0.12)
                while True:
                    try:
                        msg = await ws.receive(timeout=0.05)
                    except TimeoutError:
                        break
                    data = orjson.loads(msg.data)["data"]
                    seen[data["s"]].append(data["T"])
        after = await statuses()
    assert all(after[s] == "TRADING" for s in new)
    assert all(after[s] == "BREAK" for s in gone)
    assert len(after) == 202
    for s in new:
        listed_ms = to_us(next(c.listed_at for c in config.symbols if c.symbol == s)) // 1000
        assert seen[s], f"{s} never traded after its listing"
        assert min(seen[s]) >= listed_ms
    for s in gone:
        halt_ms = to_us(next(c.halts[0][0] for c in config.symbols if c.symbol == s)) // 1000
        assert seen[s], f"{s} never traded before its delisting"
        assert max(seen[s]) < halt_ms, f"{s} traded after it was delisted"


def test_cli_serves_all_at_the_rate_set() -> None:
    """python -m fakebinance --all N --rate R: exchangeInfo lists N symbols, ALL0001USDT first."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakebinance", "--port", "0", "--all", "300", "--rate", "900",
         "--listings", "1", "--delistings", "1", "--events-after", "3600", "--warm"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with urllib.request.urlopen(f"{url}/api/v3/exchangeInfo", timeout=10) as r:
            info = orjson.loads(r.read())
        names = [s["symbol"] for s in info["symbols"]]
        assert len(names) == 300
        assert names[0] == "ALL0001USDT"
        assert all(s["status"] == "TRADING" for s in info["symbols"])
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
