"""STREAMER_SHARD=k/n: ALL split over n processes, every symbol on exactly one of them."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, SymbolSpec, default_symbols, make_symbols
from fakebinance.server import FakeBinance
from include.platform.symbols import Shard, in_shard, parse_shard, shard_index
from streamer.config import load_config
from tests.streamer.conftest import running, streamer_config, wait_until


def test_shard_parsing() -> None:
    assert parse_shard("2/3") == Shard(2, 3)
    assert parse_shard(" 0/1 ") == Shard(0, 1)
    assert parse_shard("") is None
    assert parse_shard(None) is None
    for bad in ("3/3", "-1/3", "1", "a/3", "1/0", "1/3/4"):
        with pytest.raises(ValueError, match="STREAMER_SHARD"):
            parse_shard(bad)


def test_every_symbol_lands_on_exactly_one_shard_evenly() -> None:
    """2,000 symbols over 3 shards: a partition, each shard near a third."""
    symbols = [f"SYM{i:04d}USDT" for i in range(2000)]
    parts = [in_shard(symbols, Shard(k, 3)) for k in range(3)]
    assert sorted(s for part in parts for s in part) == sorted(symbols)
    assert all(560 <= len(part) <= 780 for part in parts), [len(p) for p in parts]


def test_the_assignment_never_changes() -> None:
    """Processes on other hosts, Python versions or hash seeds agree: a fixed, keyed hash."""
    assert [shard_index(s, 3) for s in ("BTCUSDT", "ETHUSDT", "PEPEUSDT", "NEWUSDT")] == [
        shard_index(s.lower(), 3) for s in ("BTCUSDT", "ETHUSDT", "PEPEUSDT", "NEWUSDT")
    ]
    # blake2b-64 of the name modulo n, as deployed: a change would move symbols between shards.
    assert [shard_index(s, 7) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")] == [5, 4, 1]


def test_each_shard_gets_its_own_health_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMER_HEALTH_PORT", raising=False)
    monkeypatch.setenv("STREAMER_SHARD", "2/3")
    config = load_config(database_url="postgresql://127.0.0.1/binance")
    assert config.shard == Shard(2, 3)
    assert config.health_port == 8797
    monkeypatch.setenv("STREAMER_HEALTH_PORT", "9100")
    assert load_config(database_url="postgresql://127.0.0.1/binance").health_port == 9100
    monkeypatch.setenv("STREAMER_SHARD", "3/3")
    with pytest.raises(ValueError, match="STREAMER_SHARD"):
        load_config(database_url="postgresql://127.0.0.1/binance")


async def test_three_shards_stream_all_with_no_symbol_twice_or_missing(
    database_url: str,
) -> None:
    """Three streamers with SYMBOLS=ALL and STREAMER_SHARD=k/3 on one exchange and database:
    their subscriptions partition the TRADING symbols, a symbol listed mid-run included, and
    every symbol's candles are written by exactly one of them."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    specs = (*default_symbols(), *make_symbols(9, trades_per_minute=120.0))
    async with FakeBinance(MarketConfig(11, specs), clock=MarketClock()) as fake:
        configs = [
            streamer_config(
                fake,
                database_url,
                symbols=None,
                shard=Shard(k, 3),
                symbols_refresh_interval=1.0,
                silence_timeout=10.0,
                startup_repair=False,
            )
            for k in range(3)
        ]
        async with contextlib.AsyncExitStack() as stack:
            streamers = [await stack.enter_async_context(running(c, fake)) for c in configs]

            def assigned() -> list[set[str]]:
                return [set(s.shard_of) for s in streamers]

            everything = {s.symbol for s in specs}
            assert set().union(*assigned()) == everything
            assert sum(len(a) for a in assigned()) == len(everything)
            assert all(assigned()), "a shard got nothing: the split is not spread"

            fake.list_symbol(SymbolSpec("NEWUSDT", Decimal("2.5"), 4, 2, 600.0, start))
            await wait_until(
                lambda: any("NEWUSDT" in a for a in assigned()), 15, "the listing picked up"
            )
            owners = [k for k, a in enumerate(assigned()) if "NEWUSDT" in a]
            assert owners == [shard_index("NEWUSDT", 3)]
            await wait_until(
                lambda: "NEWUSDT" in streamers[owners[0]].aggregator.books, 15, "a NEW trade"
            )
            # Each process's books (what it writes) hold only its own symbols.
            for k, streamer in enumerate(streamers):
                assert set(streamer.aggregator.books) <= assigned()[k]
            streams = [s for c in fake.hub.conns for s in c.streams]
            assert len(streams) == len(set(streams)) == len(everything) + 1
            await wait_until(
                lambda: all(s.writer.rows_written for s in streamers), 15, "every shard writing"
            )
            final = assigned()
    with psycopg.connect(database_url) as conn:
        written = {r[0] for r in conn.execute("select distinct symbol from market.candles_1m_live")}
    assert "NEWUSDT" in written
    for k, mine in enumerate(final):
        assert written & mine, f"shard {k}/3 wrote none of its symbols"
