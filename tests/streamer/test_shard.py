"""STREAMER_SHARD=k/n: ALL split over n processes, every symbol on exactly one of them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import orjson
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, SymbolSpec, all_market, default_symbols, make_symbols
from fakebinance.server import FakeBinance
from include.platform.symbols import Shard, in_shard, parse_shard, shard_index
from streamer.config import load_config
from tests.support.streamer import exec_streamer, running, streamer_config, wait_until


def free_port() -> int:
    """A port nothing listens on now (each process gets its own)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


@pytest.mark.slow
async def test_three_streamer_processes_split_all_with_listings(database_url: str) -> None:
    """`python -m streamer` three times, SYMBOLS=ALL and STREAMER_SHARD=0/3, 1/3, 2/3, on one
    exchange and database, while symbols are listed and one is delisted: each process serves its
    own health port, every symbol is folded by exactly the process its hash names (the new
    listings included), and every symbol that traded while they ran has candles in the table."""
    start = datetime.now(UTC)
    market = all_market(
        start,
        n_symbols=40,
        trades_per_second=80.0,
        listings=2,
        delistings=1,
        events_after=4,
        events_every=3,
    )
    new = {s.symbol for s in market.symbols if s.symbol.startswith("NEW")}
    ports = [free_port() for _ in range(3)]
    async with FakeBinance(market, clock=MarketClock()) as fake, aiohttp.ClientSession() as http:
        procs = []
        for k, port in enumerate(ports):
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "SYMBOLS": "ALL",
                "BINANCE_WS_URL": fake.url,
                "BINANCE_REST_URL": fake.url,
                "STREAMER_SHARD": f"{k}/3",
                "STREAMER_HEALTH_PORT": str(port),
                "STREAMER_SYMBOLS_REFRESH": "1",
            }
            procs.append(await exec_streamer(env))

        async def get(port: int, path: str) -> tuple[int, str]:
            try:
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    return resp.status, await resp.text()
            except aiohttp.ClientError:
                return 0, ""

        async def folded() -> list[dict[str, float]]:
            """Raw trades each process folded, per symbol (its /metrics)."""
            out = []
            for port in ports:
                _, text = await get(port, "/metrics")
                out.append(
                    {
                        sample.labels["symbol"]: sample.value
                        for family in text_string_to_metric_families(text)
                        for sample in family.samples
                        if sample.name == "streamer_trades_total" and sample.value > 0
                    }
                )
            return out

        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                # Until both listings have traded (their first minute after listing) and were
                # folded by their processes.
                if new <= set().union(*await folded()):
                    break
                await asyncio.sleep(1)
            healths = [await get(port, "/healthz") for port in ports]
            stop_ms = fake.clock.now_ms()
            per_process = await folded()
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
            results = [await asyncio.wait_for(p.communicate(), 60) for p in procs]
        for proc, (_, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, err.decode()[-2000:]
        # Each process answers on its own port, as its own shard.
        for k, (status, body) in enumerate(healths):
            assert status in (200, 503), body
            assert orjson.loads(body)["shard"] == f"{k}/3"
        # No symbol on two processes, each where its hash puts it, the listings included.
        seen = [set(p) for p in per_process]
        assert sum(len(s) for s in seen) == len(set().union(*seen))
        for k, symbols in enumerate(seen):
            assert symbols, f"process {k}/3 folded nothing"
            assert all(shard_index(s, 3) == k for s in symbols), (k, symbols)
        assert new <= set().union(*seen)
        # Every symbol that traded while all three streamed is in the table, none missing.
        # The window ends two seconds before the stop: those trades surely reached them.
        lo_us, hi_us = (stop_ms - 15_000) * 1000, (stop_ms - 2_000) * 1000
        traded = {
            s.symbol
            for s in market.symbols
            if fake.market.is_listed(s.symbol, lo_us)
            and len(fake.market.trade_arrays(s.symbol, lo_us, hi_us).ids)
        }
    with psycopg.connect(database_url) as conn:
        written = {r[0] for r in conn.execute("select distinct symbol from market.candles_1m_live")}
    assert traded <= written, sorted(traded - written)
    assert set().union(*seen) <= written
