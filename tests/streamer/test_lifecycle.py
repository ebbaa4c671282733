"""Database outages, SIGTERM, sharding and ALL-mode listings."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, SymbolSpec, default_symbols, make_symbols
from fakebinance.server import FakeBinance
from include.platform import pgserver
from include.platform.db import ensure_database
from include.platform.migrate import migrate
from tests.support.db import record_writers
from tests.support.streamer import (
    assert_exact,
    exec_streamer,
    market_minutes,
    running,
    streamer_config,
    wait_until,
)

SYMBOLS = ("BTCUSDT", "ETHUSDT", "PEPEUSDT", "QUIETUSDT")


def restart_pg(pgdata: Path, port: int) -> None:
    """Start a stopped server again on its old port.

    pgserver.start refuses a port still in TIME_WAIT (its free-port probe binds without
    SO_REUSEADDR, PostgreSQL itself does not mind), so pg_ctl is called directly.
    """
    pgdata = pgdata.resolve()
    options = f"-h 127.0.0.1 -p {port} -k {pgdata} -c max_connections=200"
    pgserver._pg(
        "pg_ctl",
        "start",
        "-w",
        "-t",
        "60",
        "-D",
        str(pgdata),
        "-l",
        str(pgdata / "server.log"),
        "-o",
        options,
    )


@pytest.mark.slow
async def test_database_stopped_and_restarted_loses_nothing(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """PostgreSQL stopped under load: candles wait in memory and are all written once it is back."""
    pgdata = tmp_path / "pg"
    port = pgserver.free_port()
    server = await asyncio.to_thread(pgserver.start, pgdata, port)
    try:
        await asyncio.to_thread(ensure_database, server.url(), "app")
        url = server.url("app")
        await asyncio.to_thread(migrate, url)
        async with running(streamer_config(fake, url), fake) as streamer:
            await market_minutes(fake, 1.2)
            await asyncio.to_thread(pgserver.stop, pgdata)
            await market_minutes(fake, 1.6)
            assert not streamer.writer.db_ok
            assert streamer.metrics.write_errors > 0
            _ok, health = streamer.health()
            assert health["writer"]["database_up"] is False
            assert health["writer"]["pending_candles"] > 0
            await asyncio.to_thread(restart_pg, pgdata, port)
            await wait_until(lambda: streamer.writer.db_ok, 20, "the writer to reconnect")
            await market_minutes(fake, 1.0)
        assert_exact(fake, url, SYMBOLS, min_rows=3)
    finally:
        await asyncio.to_thread(pgserver.destroy, pgdata)


@pytest.mark.slow
async def test_sigterm_flushes_every_candle_and_exits_zero(database_url: str) -> None:
    """`python -m streamer` on SIGTERM stops reading, writes every candle, and exits 0; it
    writes as streamer_writer (DATABASE_URL is the administrator's, used to migrate)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        writers = record_writers(conn, "market.candles_1m_live")
    market = MarketConfig(3, default_symbols())
    async with FakeBinance(market, clock=MarketClock()) as fake:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SYMBOLS": "BTCUSDT,ETHUSDT",
            "BINANCE_WS_URL": fake.url,
            "BINANCE_REST_URL": fake.url,
            "STREAMER_HEALTH_PORT": "0",
            # Nothing is written until the shutdown flush: whatever is in the table came from it.
            "STREAMER_FLUSH_INTERVAL": "3600",
        }
        proc = await exec_streamer(env)
        # A fixed sleep raced the process's start on a loaded CI machine: wait until both
        # streams are subscribed and BTC has traded since, then give the frame a second to land.
        await wait_until(
            lambda: fake.stats()["subscriptions"] >= 2, 60, "the streamer to subscribe"
        )
        since_us = fake.clock.now_us()
        await wait_until(
            lambda: bool(fake.market.trades("BTCUSDT", since_us, fake.clock.now_us())),
            30,
            "a BTC trade after the subscription",
        )
        await asyncio.sleep(1.5)
        assert proc.returncode is None
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 40)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert b'"level": "error"' not in err
        assert b'"level":"error"' not in err
        # uvloop is installed here, so the entry point runs on it.
        assert b"event loop: uvloop" in err
        # Its REST calls (the exchange's clock at least) are not logged one line per request.
        assert b"/api/v3/time" not in err
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "select symbol, open_time, trade_count, volume, first_trade_id, last_trade_id"
                " from market.candles_1m_live order by symbol, open_time"
            ).fetchall()
        # A BTC trade was sent after the subscription: the flush wrote it.
        assert "BTCUSDT" in {r[0] for r in rows}
        assert writers() == {"streamer_writer"}
        assert {r[0] for r in rows} <= {"BTCUSDT", "ETHUSDT"}
        for symbol, open_time, count, volume, first_id, last_id in rows:
            start_us = int(open_time.timestamp()) * 1_000_000
            trades = [
                t
                for t in fake.market.trades(symbol, start_us, start_us + 60_000_000)
                if t.id <= last_id
            ]
            # The flushed row holds exactly the minute's trades up to its last trade id.
            assert first_id == trades[0].id
            assert count == len(trades)
            assert volume == sum((t.qty for t in trades), Decimal(0))


async def test_1500_symbols_shard_into_two_connections(database_url: str) -> None:
    """SYMBOLS=ALL with 1500 trading symbols opens 2 connections within the 1024-stream limit."""
    specs = make_symbols(1500, trades_per_minute=0.5)
    async with FakeBinance(MarketConfig(5, specs), clock=MarketClock()) as fake:
        cfg = streamer_config(
            fake, database_url, symbols=None, startup_repair=False, silence_timeout=30.0
        )
        async with running(cfg, fake) as streamer:
            await wait_until(
                lambda: (
                    len(streamer.shards) == 2
                    and all(len(s.subscribed) == len(s.symbols) for s in streamer.shards)
                ),
                30,
                "both shards subscribed",
            )
            sizes = sorted(len(c.streams) for c in fake.hub.conns)
            assert sizes == [476, 1024]
            assert fake.hub.stats["closed_rate"] == 0
            ok, health = streamer.health()
            assert ok
            assert [c["state"] for c in health["connections"]] == ["connected"] * 2


async def test_all_follows_listings_and_delistings(database_url: str) -> None:
    """With SYMBOLS=ALL a new listing is subscribed and a symbol leaving TRADING dropped."""
    # Listing acts on whole minutes: listed at this minute's start, it trades at once.
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    async with FakeBinance(MarketConfig(5, default_symbols()), clock=MarketClock()) as fake:
        cfg = streamer_config(
            fake, database_url, symbols=None, symbols_refresh_interval=1.0, silence_timeout=10.0
        )
        async with running(cfg, fake) as streamer:
            assert set(streamer.shard_of) == {"BTCUSDT", "ETHUSDT", "PEPEUSDT"}
            fake.list_symbol(SymbolSpec("NEWUSDT", Decimal("2.5"), 4, 2, 600.0, start))
            fake.set_status("ETHUSDT", "BREAK")
            await wait_until(
                lambda: (
                    "NEWUSDT" in streamer.shards[0].subscribed
                    and "ETHUSDT" not in streamer.shards[0].subscribed
                ),
                15,
                "the listing change",
            )
            await wait_until(lambda: "NEWUSDT" in streamer.aggregator.books, 10, "a NEW trade")
            streams = {s for c in fake.hub.conns for s in c.streams}
            assert "newusdt@trade" in streams
            assert "ethusdt@trade" not in streams


@pytest.mark.slow
@pytest.mark.parametrize("stream", ["aggTrade"])
async def test_aggtrade_stream_is_exact_too(
    fake: FakeBinance, database_url: str, stream: str
) -> None:
    """With STREAMER_STREAM=aggTrade, counts (l - f + 1) and taker volumes are exact as well."""
    async with running(streamer_config(fake, database_url, stream=stream), fake):
        await market_minutes(fake, 1.3)
        fake.refuse_connections(0.5)
        fake.drop_connections()
        await market_minutes(fake, 2.3)
    assert_exact(fake, database_url, SYMBOLS, min_rows=2)


@pytest.mark.slow
async def test_all_survives_partial_exchange_info_and_a_failing_follower(
    database_url: str,
) -> None:
    """An exchangeInfo answer without usable symbols (missing, null, empty) unsubscribes
    nothing; a listing follower that fails is started again (counted in /healthz), so a listing
    after it is still followed."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    async with FakeBinance(MarketConfig(5, default_symbols()), clock=MarketClock()) as fake:
        cfg = streamer_config(
            fake, database_url, symbols=None, symbols_refresh_interval=0.5, silence_timeout=10.0
        )
        async with running(cfg, fake) as streamer:
            everything = {"BTCUSDT", "ETHUSDT", "PEPEUSDT"}
            assert set(streamer.shard_of) == everything
            for mode in ("missing", "null", "empty"):
                fake.break_exchange_info(mode, answers=3)
                await wait_until(
                    lambda: fake.rest.exchange_info_faulty_answers == 0, 10, f"{mode} answers"
                )
                assert set(streamer.shard_of) == everything, mode
                assert everything <= streamer.shards[0].subscribed, mode

            refresh = streamer.subscriptions.refresh
            failed: list[bool] = []

            async def fails_once():
                if not failed:
                    failed.append(True)
                    raise RuntimeError("a bug in the follower")
                return await refresh()

            streamer.subscriptions.refresh = fails_once  # type: ignore[method-assign]
            await wait_until(lambda: bool(failed), 10, "the follower's failure")
            fake.list_symbol(SymbolSpec("NEWUSDT", Decimal("2.5"), 4, 2, 600.0, start))
            await wait_until(
                lambda: "NEWUSDT" in streamer.shards[0].subscribed, 20, "the listing after it"
            )
            _ok, health = streamer.health()
            assert health["helper_restarts"] == {"listings": 1}
