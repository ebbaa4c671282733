"""COIN-M live: `python -m streamer` with MARKETS=coinm builds the inverse perpetuals' minutes
from dstream's aggTrades into market_coinm, exact against /dapi/v1/klines field for field: whole
contracts in volume, the base asset's volume (each fill's qty x size / price to 8 decimals,
summed) in quote_volume, the trade count; across a SIGKILL and a restart.

An aggTrade of several fills tells only their total contracts, so a minute holding one takes its
base volumes from its kline once it is over (streamer/inverse.py); the unit test below shows the
streamer's own arithmetic is Binance's for every other minute, and which minutes those are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig
from fakebinance.futures import SEED_OFFSET, coin_contracts
from fakebinance.market import Market
from streamer.aggregator import Aggregator
from streamer.candle import InverseCandle
from streamer.parser import Trade
from tests.support import streamer as support
from tests.support.fakebinance import NOW

CONTRACTS = ("BTCUSD_PERP", "ETHUSD_PERP")
SIZES = {"BTCUSD_PERP": 100, "ETHUSD_PERP": 10}


def coinm_config() -> MarketConfig:
    return MarketConfig(support.market_config().seed + 2 * SEED_OFFSET, coin_contracts())


@pytest.fixture
async def fake() -> AsyncIterator:
    """The fast fake with COIN-M's perpetuals beside spot."""
    from fakebinance.server import FakeBinance

    clock = MarketClock(start=support.START, speed=support.SPEED)
    async with FakeBinance(
        support.market_config(), clock=clock, tick_interval=0.02, coinm_config=coinm_config()
    ) as server:
        yield server


def scaled(value) -> int:
    return int(value.scaleb(8))


def test_an_inverse_minute_is_its_kline_unless_an_aggtrade_hides_its_fills() -> None:
    """Folding a minute's aggTrades into an InverseCandle gives the kline's contracts, trade
    count and prices, and its base volumes exactly where no aggTrade holds several fills; a
    minute with one is marked mixed (settled from its kline), and over an hour both kinds
    occur."""
    market = Market(coinm_config(), MarketClock(start=NOW, speed=0))
    start = int(NOW.timestamp() * 1000) // 60_000 * 60_000 - 60 * 60_000
    own = mixed = 0
    for symbol in CONTRACTS:
        for kline in market.klines(symbol, "1m", start, start + 59 * 60_000, 60):
            aggs = market.agg_arrays(symbol, kline.open_time * 1000, (kline.close_time + 1) * 1000)
            c = InverseCandle(symbol, kline.open_time, SIZES[symbol])
            for a, p, q, f, last, t_us, m in zip(*(col.tolist() for col in aggs), strict=True):
                c.add(Trade(symbol, a, f, last, p, q, t_us // 1000, m))
            assert (c.open, c.high, c.low, c.close) == tuple(
                scaled(v) for v in (kline.open, kline.high, kline.low, kline.close)
            )
            assert (c.volume, c.count, c.taker_volume) == (
                scaled(kline.volume),
                kline.trade_count,
                scaled(kline.taker_buy_volume),
            )
            base = (c.quote // 10**8, c.taker_quote // 10**8)
            want = (scaled(kline.quote_volume), scaled(kline.taker_buy_quote_volume))
            if c.mixed:
                mixed += 1
            else:
                own += 1
                assert base == want, (symbol, kline.open_time)
    assert own > 0
    assert mixed > 0
    # Only an InverseCandle can be mixed; spot's and USDⓈ-M's close from their trades alone.
    aggregator = Aggregator()
    assert not aggregator.contract_sizes


@pytest.mark.slow
async def test_coinm_candles_are_the_contracts_klines_across_a_restart(
    fake, database_url: str, tmp_path: Path
) -> None:
    """The inverse perpetuals' closed minutes equal /dapi/v1/klines field for field; after a
    SIGKILL and a restart three market minutes later the missed minutes are closed from klines
    and recorded as a healed restart gap in market_coinm.ingest_gaps; every request went to
    /dapi/v1 (none to spot's or USDⓈ-M's paths)."""
    log = tmp_path / "streamer.log"
    variables = {
        "MARKETS": "coinm",
        "COINM_SYMBOLS": ",".join(CONTRACTS),
        "BINANCE_COINM_WS_URL": f"{fake.url}/dstream",
        "BINANCE_COINM_REST_URL": fake.url,
    }
    first = await support.start_streamer(fake, database_url, log, **variables)
    await support.until_killed(
        first,
        lambda: all(
            len(support.closed_rows(database_url, s, "market_coinm")) >= 3 for s in CONTRACTS
        ),
        90,
        "the contracts to close three minutes",
    )
    await support.market_minutes(fake, 3)
    second = await support.start_streamer(fake, database_url, log, **variables)
    closed = support.closed_after(
        database_url, CONTRACTS, support.market_minute(fake), "market_coinm"
    )
    await support.until_stopped(
        second, log, closed, 90, "the contracts' minutes to close after the restart"
    )

    counts = support.assert_exact(fake, database_url, CONTRACTS, min_rows=6, market_name="coinm")
    assert all(n >= 6 for n in counts.values())
    gaps = [g for g in support.gap_rows(database_url, "market_coinm") if g["reason"] == "restart"]
    assert {g["symbol"] for g in gaps} == set(CONTRACTS)
    assert all(g["healed_at"] is not None for g in gaps)
    assert support.gap_rows(database_url) == []
    paths = fake.stats()["requests_by_path"]
    assert paths.get("/dapi/v1/klines", 0) > 0
    assert not [p for p in paths if p.startswith(("/api/", "/fapi/"))], paths
    # No minute was left for want of its kline, none differed from it beyond base volumes.
    text = log.read_text()
    assert "left unclosed" not in text
    assert "differs from its kline" not in text
