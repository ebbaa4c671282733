"""USDⓈ-M live: `python -m streamer` with MARKETS="spot usdm" builds each market's 1-minute
candles from its own stream into its own schema, exact against that market's klines, and
survives a SIGKILL and a restart as spot does (docs/DESIGN.md "Futures markets"); with ALL,
each futures market (COIN-M too) follows a listing and a halt.

The fake exchange serves the contracts' aggTrade stream on fstream's routed /market path and
their REST (aggTrades, klines, the 24-hour ticker, exchangeInfo) on /fapi/v1 with the futures'
own weights and IP pool, its clock 20 market seconds per wall second.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, SymbolSpec
from fakebinance.futures import SEED_OFFSET, coin_contracts, default_contracts
from fakebinance.server import FakeBinance
from include.platform.markets import COINM, USDM, Market
from include.platform.times import MINUTE_MS
from streamer.app import Streamer
from tests.support import streamer as support
from tests.support.fakebinance import NOW

SPOT = ("BTCUSDT", "ETHUSDT")
CONTRACTS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    """The fast fake with its USDⓈ-M and COIN-M perpetuals beside spot."""
    seed = support.market_config().seed
    usdm = MarketConfig(seed + SEED_OFFSET, default_contracts())
    coinm = MarketConfig(seed + 2 * SEED_OFFSET, coin_contracts())
    clock = MarketClock(start=support.START, speed=support.SPEED)
    async with FakeBinance(
        support.market_config(),
        clock=clock,
        tick_interval=0.02,
        usdm_config=usdm,
        coinm_config=coinm,
    ) as server:
        yield server


async def start_streamer(
    fake: FakeBinance, database_url: str, log: Path
) -> asyncio.subprocess.Process:
    """`python -m streamer` for spot and USDⓈ-M on the fake."""
    return await support.start_streamer(
        fake,
        database_url,
        log,
        MARKETS="spot usdm",
        SYMBOLS=",".join(SPOT),
        USDM_SYMBOLS=",".join(CONTRACTS),
        BINANCE_USDM_WS_URL=fake.url,
        BINANCE_USDM_REST_URL=fake.url,
    )


def futures_closed(database_url: str, symbol: str) -> int:
    return len(support.closed_rows(database_url, symbol, "market_usdm"))


@pytest.mark.slow
async def test_usdm_candles_are_the_contracts_klines_across_a_restart(
    fake: FakeBinance, database_url: str, tmp_path: Path
) -> None:
    """One process streams spot and the perpetuals; each market's closed minutes equal its own
    klines field for field (trade count included), in its own schema. After a SIGKILL and a
    restart three market minutes later the perpetuals' missed minutes are closed from
    /fapi/v1/klines and recorded as a healed restart gap in market_usdm.ingest_gaps, the
    repairs charged to the futures' IP pool, never spot's."""
    log = tmp_path / "streamer.log"
    first = await start_streamer(fake, database_url, log)
    await support.until_killed(
        first,
        lambda: (
            all(futures_closed(database_url, s) >= 2 for s in CONTRACTS)
            and all(len(support.closed_rows(database_url, s)) >= 2 for s in SPOT)
        ),
        60,
        "both markets to close two minutes",
    )
    before = {s: support.newest_closed_ms(database_url, s, "market_usdm") for s in CONTRACTS}
    await support.market_minutes(fake, 3)
    asked_before = dict(fake.stats()["requests_by_path"])
    second = await start_streamer(fake, database_url, log)
    restarted = support.market_minute(fake)
    await support.until_stopped(
        second,
        log,
        support.closed_after(database_url, CONTRACTS, restarted, "market_usdm"),
        60,
        "the perpetuals' minutes to close after the restart",
    )

    # Each market's minutes are its own klines: the contracts' (their tick, step, trades).
    counts = support.assert_exact(fake, database_url, CONTRACTS, min_rows=4, futures=True)
    support.assert_exact(fake, database_url, SPOT, min_rows=2, contiguous=False)
    with psycopg.connect(database_url) as conn:
        spot_btc = conn.execute(
            "select close from market.candles_1m_live where symbol = 'BTCUSDT' and is_closed "
            "order by open_time desc limit 1"
        ).fetchone()[0]
        perp_btc = conn.execute(
            "select close from market_usdm.candles_1m_live where symbol = 'BTCUSDT' "
            "and is_closed order by open_time desc limit 1"
        ).fetchone()[0]
        assert spot_btc != perp_btc  # two markets, not one copied
        # Nothing of the perpetuals in spot's table, nor the other way round.
        assert conn.execute(
            "select count(*) from market_usdm.candles_1m_live where symbol not in "
            "('BTCUSDT', 'ETHUSDT')"
        ).fetchone() == (0,)
    for symbol in CONTRACTS:
        newest = before[symbol]
        assert newest is not None
        assert newest + 2 * MINUTE_MS < restarted
        # The missed minutes are there, closed: nothing left to heal-gaps.
        made = {
            int(r["open_time"].timestamp()) * 1000: r["from_klines"]
            for r in support.closed_rows(database_url, symbol, "market_usdm")
        }
        missed = range(newest + MINUTE_MS, restarted, MINUTE_MS)
        assert all(made.get(m) for m in missed), f"{symbol}: missed minutes not from klines"
    gaps = support.gap_rows(database_url, "market_usdm")
    for symbol in CONTRACTS:
        [restart] = [g for g in gaps if g["symbol"] == symbol and g["reason"] == "restart"]
        assert int(restart["gap_start"].timestamp()) * 1000 == before[symbol] + MINUTE_MS
        assert restart["healed_by"] == "streamer:rest"
    assert not [g for g in gaps if g["reason"] == "sequence"], gaps
    # The repairs went to /fapi/v1 (klines for the missed minutes, aggTrades for the start's
    # own), in the futures' pool.
    asked = {
        p: n - asked_before.get(p, 0)
        for p, n in fake.stats()["requests_by_path"].items()
        if n > asked_before.get(p, 0)
    }
    print("asked after the restart:", asked, "closed:", counts)
    assert asked.get("/fapi/v1/klines", 0) >= len(CONTRACTS), asked
    assert asked.get("/fapi/v1/aggTrades", 0) >= 1, asked
    with psycopg.connect(database_url) as conn:
        budgets = {
            b for (b,) in conn.execute("select distinct budget from market.rest_weight_windows")
        }
    assert {"binance_futures", "binance_rest"} <= budgets, budgets


# Each futures market's listing: a contract Binance lists on it later than the fake's two.
LISTINGS = {
    "usdm": ("BTCUSDT", "ETHUSDT", SymbolSpec("SOLUSDT", Decimal("145.5"), 2, 0, 300.0, NOW)),
    "coinm": (
        "BTCUSD_PERP",
        "ETHUSD_PERP",
        SymbolSpec(
            "SOLUSD_PERP", Decimal("145.5"), 2, 0, 200.0, NOW,
            base_asset="SOL", quote_asset="USD", contract_size=10,
        ),
    ),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("market", [USDM, COINM], ids=lambda m: m.name)
async def test_futures_all_follows_a_listing_and_a_halt(
    fake: FakeBinance, database_url: str, market: Market
) -> None:
    """USDM_SYMBOLS=ALL (COINM_SYMBOLS=ALL): a contract listed while running is subscribed and
    its minutes are its klines; a contract leaving TRADING (SETTLING) is dropped, its halt
    recorded in the market's ingest_gaps for heal-gaps, no minute invented for it; back to
    TRADING it is streamed again, and every closed minute of every contract equals the market's
    own kline (COIN-M's base volumes included, settled from klines where an aggTrade hid its
    fills)."""
    first, halted_one, listing = LISTINGS[market.name]
    api, hub = (fake.usdm, fake.usdm_hub) if market is USDM else (fake.coinm, fake.coinm_hub)
    assert api is not None
    assert hub is not None
    schema = market.raw_schema
    config = support.streamer_config(
        fake,
        database_url,
        market=market,
        symbols=None,
        stream="aggTrade",
        symbols_refresh_interval=1.0,
        ws_url=fake.url if market is USDM else f"{fake.url}/dstream",
    )

    def closed(symbol: str) -> int:
        return len(support.closed_rows(database_url, symbol, schema))

    async with support.running(config, fake) as streamer:
        assert set(streamer.shard_of) == {first, halted_one}
        assert streamer.shards[0].url.endswith(
            "/market/stream" if market is USDM else "/dstream/stream"
        )
        # One /healthz answers for every market of the process: a peer not streaming (spot's,
        # never started here) makes it 503, with each market's report.
        spot = Streamer(support.streamer_config(fake, database_url))
        streamer.peers = [spot]
        ok, report = streamer.health()
        assert not ok
        assert report["market"] == market.name
        assert report["markets"]["spot"]["ok"] is False
        streamer.peers = []
        assert streamer.health()[0]
        await support.wait_until(lambda: closed(halted_one) >= 2, 30, "two closed minutes")
        listed_at = datetime.fromtimestamp(support.market_minute(fake) / 1000, UTC)
        api.market.list_symbol(dataclasses.replace(listing, listed_at=listed_at))
        api.market.set_status(halted_one, "SETTLING")
        hub.reset_due()
        cut = support.market_minute(fake)
        await support.wait_until(
            lambda: listing.symbol in streamer.shard_of and halted_one not in streamer.shard_of,
            15,
            "the listing and the halt followed",
        )
        await support.market_minutes(fake, 3)
        api.market.set_status(halted_one, "TRADING")
        hub.reset_due()
        back = support.market_minute(fake) + MINUTE_MS
        await support.wait_until(
            lambda: (
                (support.newest_closed_ms(database_url, halted_one, schema) or 0) > back
                and closed(listing.symbol) >= 2
            ),
            40,
            f"{halted_one} trading again and {listing.symbol}'s minutes closed",
        )
    support.assert_exact(
        fake, database_url, (first, listing.symbol), min_rows=2, market_name=market.name
    )
    support.assert_exact(
        fake, database_url, (halted_one,), min_rows=3, contiguous=False, market_name=market.name
    )
    rows = support.closed_rows(database_url, halted_one, schema)
    minutes = {int(r["open_time"].timestamp()) * 1000 for r in rows}
    halted = set(range(cut + MINUTE_MS, back - MINUTE_MS, MINUTE_MS))
    assert halted, "the halt lasted minutes"
    assert not halted & minutes, "a minute was invented for the halt"
    gaps = [g for g in support.gap_rows(database_url, schema) if g["symbol"] == halted_one]
    spans = [
        (int(g["gap_start"].timestamp()) * 1000, int(g["gap_end"].timestamp()) * 1000) for g in gaps
    ]
    assert any(a <= min(halted) and max(halted) < b for a, b in spans), gaps
    assert "SETTLING" in " ".join(str(g["detail"]) for g in gaps), gaps
    assert support.gap_rows(database_url) == [], "spot's gaps table got a futures gap"
