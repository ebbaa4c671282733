"""Faults end with every closed candle exact and every gap recorded (and healed when REST can)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from fakebinance.server import FakeBinance
from tests.support import streamer as support

SYMBOLS = ("BTCUSDT", "ETHUSDT", "PEPEUSDT", "QUIETUSDT")
BUSY = ("BTCUSDT", "ETHUSDT", "PEPEUSDT")


def assert_all_healed(database_url: str) -> list[dict]:
    rows = support.gap_rows(database_url)
    assert rows, "the fault should have cost some trades"
    for r in rows:
        assert r["detected_by"] == "streamer"
        assert r["healed_at"] is not None, r
        assert r["healed_by"] == "streamer:rest"
        assert r["first_missing_trade_id"] <= r["last_missing_trade_id"]
    return rows


@pytest.mark.slow
async def test_drop_and_refused_reconnect_heal_from_rest(
    fake: FakeBinance, database_url: str
) -> None:
    """A connection dropped mid-minute, then refused for a while, loses no trade."""
    cfg = support.streamer_config(fake, database_url)
    async with support.running(cfg, fake) as streamer:
        await support.market_minutes(fake, 1.4)
        fake.refuse_connections(0.6)
        assert fake.drop_connections() == 1
        await support.market_minutes(fake, 2.8)
        assert streamer.shards[0].reconnects >= 2
        await support.wait_until(lambda: streamer.aggregator.pending_gaps() == 0, 5, "repairs")
    support.assert_exact(fake, database_url, SYMBOLS, min_rows=3)
    assert_all_healed(database_url)


@pytest.mark.slow
async def test_rotation_before_the_age_cut_loses_nothing(
    fake: FakeBinance, database_url: str
) -> None:
    """Connections rotate before the server's forced disconnect, with no gap at all."""
    fake.set_max_connection_age(3.0)
    cfg = support.streamer_config(fake, database_url, rotate_after=1.5)
    async with support.running(cfg, fake) as streamer:
        await support.market_minutes(fake, 3.6)
        assert streamer.shards[0].rotations >= 4
        assert streamer.metrics.gaps_found == 0
    assert fake.hub.stats["closed_age"] == 0
    support.assert_exact(fake, database_url, SYMBOLS, min_rows=3)
    assert support.gap_rows(database_url) == []


@pytest.mark.slow
async def test_server_shutdown_notice_is_a_clean_handover(
    fake: FakeBinance, database_url: str
) -> None:
    """A serverShutdown event makes the streamer reconnect at once; candles stay exact."""
    async with support.running(support.streamer_config(fake, database_url), fake) as streamer:
        await support.market_minutes(fake, 1.2)
        fake.server_shutdown()
        await support.market_minutes(fake, 2.4)
        assert streamer.shards[0].rotations >= 1
        await support.wait_until(lambda: streamer.aggregator.pending_gaps() == 0, 5, "repairs")
    support.assert_exact(fake, database_url, SYMBOLS, min_rows=3)


@pytest.mark.slow
async def test_stalled_socket_is_replaced_and_healed(fake: FakeBinance, database_url: str) -> None:
    """A socket that stays open but sends nothing is dropped by the watchdog; gaps heal."""
    cfg = support.streamer_config(fake, database_url, silence_timeout=0.5)
    async with support.running(cfg, fake) as streamer:
        await support.market_minutes(fake, 1.3)
        fake.stall(1.5)
        await support.market_minutes(fake, 2.9)
        assert streamer.shards[0].reconnects >= 1
        await support.wait_until(lambda: streamer.aggregator.pending_gaps() == 0, 5, "repairs")
    support.assert_exact(fake, database_url, SYMBOLS, min_rows=3)
    assert_all_healed(database_url)


@pytest.mark.slow
async def test_malformed_frames_are_counted_and_skipped(
    fake: FakeBinance, database_url: str, caplog
) -> None:
    """Bad frames are counted and logged with their content; the connection survives."""
    async with support.running(support.streamer_config(fake, database_url), fake) as streamer:
        await support.market_minutes(fake, 1.2)
        fake.send_malformed("{not json")
        await asyncio.sleep(0.2)
        fake.send_malformed('{"e":"trade","s":"BTCUSDT","t":"x"}')
        await support.market_minutes(fake, 2.3)
        assert streamer.metrics.malformed == 2
        assert streamer.shards[0].reconnects == 0
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{streamer.health_port}"
            async with http.get(url + "/metrics") as resp:
                text = await resp.text()
            async with http.get(url + "/healthz") as resp:
                health = await resp.json()
                assert resp.status == 200
    assert "streamer_malformed_frames_total 2.0" in text
    assert 'streamer_trades_total{symbol="BTCUSDT"}' in text
    assert "streamer_event_to_commit_seconds_bucket" in text
    assert health["connections"][0]["state"] == "connected"
    assert "{not json" in caplog.text
    support.assert_exact(fake, database_url, SYMBOLS, min_rows=2)


@pytest.mark.slow
async def test_rest_down_leaves_gaps_recorded_unhealed(
    fake: FakeBinance, database_url: str
) -> None:
    """Without REST a gap stays recorded and unhealed, and its minutes are never marked closed."""
    cfg = support.streamer_config(
        fake, database_url, rest_url="http://127.0.0.1:9", repair_deadline=0.5
    )
    async with support.running(cfg, fake) as streamer:
        await support.market_minutes(fake, 1.3)
        fake.refuse_connections(0.5)
        fake.drop_connections()
        await support.market_minutes(fake, 2.5)
        await support.wait_until(lambda: streamer.aggregator.pending_gaps() == 0, 5, "gave up")
    rows = support.gap_rows(database_url)
    sequence = [r for r in rows if r["reason"] == "sequence"]
    assert sequence
    assert all(r["healed_at"] is None for r in rows)
    assert all("not repaired from REST" in r["detail"] for r in rows)
    # Every row still claimed closed is exact; minutes a gap touched are left open (holes).
    support.assert_exact(fake, database_url, BUSY, min_rows=1, contiguous=False)
    import psycopg

    with psycopg.connect(database_url) as conn:
        touched = conn.execute(
            "select count(*) from market.candles_1m_live c join market.ingest_gaps g"
            " on g.symbol = c.symbol and c.open_time >= g.gap_start and c.open_time < g.gap_end"
            " where c.is_closed"
        ).fetchone()[0]
    assert touched == 0


async def test_health_turns_503_while_reconnects_keep_failing(
    fake: FakeBinance, database_url: str
) -> None:
    """/healthz answers 503 once no connection got through for too long, and 200 again after."""
    cfg = support.streamer_config(fake, database_url, health_max_disconnected=1.0)
    async with support.running(cfg, fake) as streamer, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{streamer.health_port}/healthz"
        fake.refuse_connections(4.0)
        fake.drop_connections()
        await asyncio.sleep(2.0)
        async with http.get(url) as resp:
            down = resp.status, await resp.json()
        await support.wait_until(lambda: streamer.shards[0].state == "connected", 10, "reconnect")
        async with http.get(url) as resp:
            back = resp.status
    assert down[0] == 503
    assert down[1]["connections"][0]["disconnected_for_s"] > 1.0
    assert back == 200
