"""The writer: every upsert method writes the same exact rows, and closed rows stay closed."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from include.platform import db
from include.platform.partitions import LIVE_DAYS_AHEAD
from streamer.aggregator import MINUTE_MS, Aggregator
from streamer.metrics import Metrics
from streamer.parser import Trade, to_scaled
from streamer.writer import DAYS_RETRY_S, GapOp, Writer

T0 = 1_740_000_000_000 - 1_740_000_000_000 % MINUTE_MS


def trade(seq: int, price: str, qty: str, t: int) -> Trade:
    return Trade("PEPEUSDT", seq, seq, seq, to_scaled(price), to_scaled(qty), t, seq % 2 == 0)


def rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select open_time, open, high, low, close, volume, quote_volume, trade_count,"
            " taker_buy_volume, taker_buy_quote_volume, is_closed, first_trade_id, last_trade_id"
            " from market.candles_1m_live order by open_time"
        ).fetchall()


@pytest.mark.parametrize("method", ["unnest", "copy", "executemany"])
async def test_methods_write_identical_exact_rows(database_url: str, method: str) -> None:
    """unnest, COPY and executemany upserts store the same exact candles and gap records."""
    agg = Aggregator(startup_repair=False)
    agg.apply(trade(1, "0.00001234", "1000000", T0 + 1), 0)
    agg.apply(trade(2, "0.00001240", "3", T0 + MINUTE_MS + 1), 0)
    gap = agg.apply(trade(5, "0.00001200", "7", T0 + MINUTE_MS + 2), 0)
    agg.apply(trade(6, "0.00001201", "1", T0 + 3 * MINUTE_MS + 2), 0)
    writer = Writer(database_url, agg, Metrics(), method=method)
    writer.add_gap_op(GapOp("record", gap, detail="sequence"))
    while agg.dirty or writer.gap_ops:
        await writer.flush_once()
    got = rows(database_url)
    assert [r[10] for r in got] == [False, False, False]  # a gap is pending
    assert got[1][1:8] == (
        Decimal("0.00001240"), Decimal("0.0000124"), Decimal("0.000012"), Decimal("0.000012"),
        Decimal("10"), Decimal("0.0000372") + Decimal("0.000084"), 2,
    )  # fmt: skip
    agg.apply_repair(gap, [trade(3, "0.00001300", "2", T0 + MINUTE_MS + 1),
                           trade(4, "0.00001100", "2", T0 + MINUTE_MS + 1)], 0)  # fmt: skip
    writer.add_gap_op(GapOp("heal", gap, detail="healed", healed_by="streamer:rest"))
    while agg.dirty or writer.gap_ops:
        await writer.flush_once()
    got = rows(database_url)
    assert [r[10] for r in got] == [False, True, True, False]
    assert got[1][1:8] == (
        Decimal("0.0000124"), Decimal("0.000013"), Decimal("0.000011"), Decimal("0.000012"),
        Decimal("14"), Decimal("0.0000372") + Decimal("0.000026") + Decimal("0.000022")
        + Decimal("0.000084"), 4,
    )  # fmt: skip
    # The idle minute after it repeats its close with zero volumes.
    assert got[2][1:8] == (Decimal("0.000012"),) * 4 + (0, 0, 0)
    await writer.drain(5)
    with psycopg.connect(database_url) as conn:
        healed = conn.execute("select healed_by from market.ingest_gaps").fetchall()
    assert healed == [("streamer:rest",)]


async def test_a_closed_row_is_never_reopened(database_url: str) -> None:
    """An open version of a minute (a restart rebuilding it) never overwrites its closed row."""
    first = Aggregator(startup_repair=False)
    first.apply(trade(1, "1.00000000", "1", T0 + 1), 0)
    first.apply(trade(2, "1.00000000", "1", T0 + MINUTE_MS + 1), 0)
    first.apply(trade(3, "1.00000000", "1", T0 + 2 * MINUTE_MS + 1), 0)
    writer = Writer(database_url, first, Metrics())
    await writer.flush_once()
    assert [r[10] for r in rows(database_url)] == [False, True, False]
    second = Aggregator(startup_repair=False)
    second.apply(trade(2, "9.00000000", "5", T0 + MINUTE_MS + 30_000), 0)
    await Writer(database_url, second, Metrics()).flush_once()
    minute = rows(database_url)[1]
    assert minute[10] is True
    assert minute[1] == Decimal("1")
    await writer.drain(5)


def live_days(url: str) -> list[datetime]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select month_start from market.month_partitions('market.candles_1m_live') "
                "where month_start >= date_trunc('day', now())"
            )
        ]


def forget_days_ahead(url: str) -> None:
    """As a streamer running alone for a while finds it: no partition for the coming days."""
    with psycopg.connect(url, autocommit=True) as conn:
        for (name,) in conn.execute(
            "select partition::text from market.month_partitions('market.candles_1m_live') "
            "where month_start > now()"
        ).fetchall():
            conn.execute(f"drop table {name}")


async def test_the_streamer_makes_its_coming_days(database_url: str) -> None:
    """Without Airflow nothing else makes the live table's days: the writer makes today's and
    the next LIVE_DAYS_AHEAD days' partitions itself, as streamer_writer, with its writes."""
    forget_days_ahead(database_url)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert live_days(database_url) == [today]
    agg = Aggregator(startup_repair=False)
    agg.apply(trade(1, "1.00000000", "1", T0 + 1), 0)
    url = db.role_url(database_url, db.STREAMER)
    writer = Writer(url, agg, Metrics())
    await writer.flush_once()
    assert live_days(database_url) == [
        today + timedelta(days=k) for k in range(LIVE_DAYS_AHEAD + 1)
    ]
    assert len(rows(database_url)) == 1
    await writer.drain(5)


async def test_a_busy_default_partition_delays_the_days_not_the_writes(database_url: str) -> None:
    """Making a day locks the DEFAULT partition: while a reader holds it, the writer's rows still
    commit within its lock timeout, and the days are made on a later try."""
    forget_days_ahead(database_url)
    agg = Aggregator(startup_repair=False)
    agg.apply(trade(1, "1.00000000", "1", T0 + 1), 0)
    writer = Writer(db.role_url(database_url, db.STREAMER), agg, Metrics())
    with psycopg.connect(database_url) as reader:
        reader.execute("select count(*) from market.candles_1m_live").fetchone()
        # The reader lets go only after the flush: a writer waiting for it would wait for
        # ever (the timeout only turns that into a failure).
        await asyncio.wait_for(writer.flush_once(), 120)
        assert len(rows(database_url)) == 1, "the row committed while the reader held on"
        reader.rollback()
    assert len(live_days(database_url)) == 1
    assert writer.days_due - time.monotonic() <= DAYS_RETRY_S
    writer.days_due = 0
    agg.apply(trade(2, "1.00000000", "1", T0 + 2), 0)
    await writer.flush_once()
    assert len(live_days(database_url)) == LIVE_DAYS_AHEAD + 1
    await writer.drain(5)
