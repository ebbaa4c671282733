"""Incremental builds: late klines, healed gaps months back, declared ranges, full refresh."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from fakebinance.config import utc
from include.platform.db import LOADER, role_url
from include.platform.intervals import bucket_start
from include.timeframes import build_timeframes, mark_dirty
from tests.support.dbt import (
    MARTS,
    WINDOW_END,
    WINDOW_START,
    from_ms,
    kline_values,
    load_klines,
    mart_snapshot,
    official,
    to_ms,
    write_live,
)
from tests.support.marts import assert_equals_official


def age_sources(conn) -> None:
    """Pretend everything loaded so far was loaded a day ago, as history is in production."""
    conn.execute("update market.klines_1m set loaded_at = loaded_at - interval '1 day'")
    conn.execute("update market.candles_1m_live set updated_at = updated_at - interval '1 day'")


def built_at(conn, tf: str, symbol: str, start, end) -> set:
    query = sql.SQL(
        "select distinct built_at from analytics.{} "
        "where symbol = %s and open_time >= %s and open_time < %s"
    ).format(sql.Identifier(f"candles_{tf}"))
    rows = conn.execute(query, (symbol, start, end)).fetchall()
    return {r[0] for r in rows}


@pytest.mark.slow
def test_late_official_kline_replaces_live_candles_in_every_timeframe(
    database_url, conn, market, window_klines
):
    """Live candles fill the last hours until official klines come; then every mart equals them."""
    klines = window_klines["BTCUSDT"]
    late = klines[-120:]
    load_klines(conn, "BTCUSDT", klines[:-120])
    for kline in late[:-1]:
        # The streamer missed a trade a minute: its candles are close to, not equal to, official.
        values = list(kline_values(kline))
        values[6] += 1
        write_live(conn, "BTCUSDT", from_ms(kline.open_time), values, is_closed=True)
    write_live(
        conn, "BTCUSDT", from_ms(late[-1].open_time), kline_values(late[-1]), is_closed=False
    )

    build_timeframes(database_url)

    origins = dict(
        conn.execute(
            "select origin, count(*) from analytics.candles_1m where symbol = 'BTCUSDT' group by 1"
        ).fetchall()
    )
    assert origins == {"kline": len(klines) - 120, "live_closed": 119, "live_open": 1}
    last_hour = conn.execute(
        "select trade_count, kline_minute_count, is_complete, is_final from analytics.candles_1h "
        "where symbol = 'BTCUSDT' order by open_time desc limit 1"
    ).fetchone()
    official_hour = official(market, "BTCUSDT", "1h", WINDOW_END - timedelta(hours=1), WINDOW_END)
    assert last_hour == (official_hour[0].trade_count + 59, 0, True, False)

    load_klines(conn, "BTCUSDT", late, source="rest")
    build_timeframes(database_url)

    assert_equals_official(conn, market, "BTCUSDT", WINDOW_START, WINDOW_END)
    assert conn.execute(
        "select bool_and(is_final), sum(kline_minute_count) from analytics.candles_1w "
        "where symbol = 'BTCUSDT'"
    ).fetchone() == (True, len(klines))


@pytest.mark.slow
def test_gap_healed_months_back_flows_into_higher_timeframes_and_nothing_else(
    database_url, conn, market, window_klines
):
    """A gap healed in September is rebuilt up to 1w on the next run; January stays untouched."""
    september = official(market, "BTCUSDT", "1m", utc(2024, 9, 2), utc(2024, 9, 9))
    gap_start, gap_end = utc(2024, 9, 4, 7, 13), utc(2024, 9, 4, 10, 0)
    in_gap = [k for k in september if to_ms(gap_start) <= k.open_time < to_ms(gap_end)]
    load_klines(conn, "BTCUSDT", [k for k in september if k not in in_gap])
    load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"])
    age_sources(conn)
    build_timeframes(database_url)

    day = conn.execute(
        "select minute_count, is_complete from analytics.candles_1d "
        "where symbol = 'BTCUSDT' and open_time = '2024-09-04'"
    ).fetchone()
    assert day == (1440 - len(in_gap), False)
    january_before = {tf: built_at(conn, tf, "BTCUSDT", WINDOW_START, WINDOW_END) for tf in MARTS}

    load_klines(conn, "BTCUSDT", in_gap, source="rest")
    build_timeframes(database_url)

    assert_equals_official(conn, market, "BTCUSDT", utc(2024, 9, 2), utc(2024, 9, 9))
    assert conn.execute(
        "select bool_and(is_complete) from analytics.candles_1w where open_time = '2024-09-02'"
    ).fetchone() == (True,)
    for tf in MARTS:
        assert built_at(conn, tf, "BTCUSDT", WINDOW_START, WINDOW_END) == january_before[tf], tf
    rebuilt_days = conn.execute(
        "select count(*) from analytics.candles_1d where built_at > %s",
        (max(january_before["1d"]),),
    ).fetchone()
    assert rebuilt_days == (1,)

    incremental = mart_snapshot(conn)
    build_timeframes(database_url, full_refresh=True)
    assert mart_snapshot(conn) == incremental


@pytest.mark.slow
def test_declared_dirty_range_removes_deleted_minutes_everywhere(
    database_url, conn, market, window_klines
):
    """Minutes deleted from the sources and declared with mark_dirty vanish from every mart."""
    load_klines(conn, "ETHUSDT", window_klines["ETHUSDT"])
    age_sources(conn)
    build_timeframes(database_url)

    start, end = utc(2025, 1, 10), utc(2025, 1, 10, 6)
    with conn.transaction():
        conn.execute(
            "delete from market.klines_1m where symbol = 'ETHUSDT' "
            "and open_time >= %s and open_time < %s",
            (start, end),
        )
        mark_dirty(conn, "ETHUSDT", start, end, reason="test: withdrawn minutes")
    build_timeframes(database_url)

    assert conn.execute(
        "select count(*) from analytics.candles_1m where open_time >= %s and open_time < %s",
        (start, end),
    ).fetchone() == (0,)
    assert conn.execute(
        "select open_time, minute_count from analytics.candles_4h "
        "where open_time >= %s and open_time < %s order by 1",
        (start, end + timedelta(hours=2)),
    ).fetchall() == [(utc(2025, 1, 10, 4), 120)]
    assert conn.execute(
        "select minute_count, is_complete from analytics.candles_1w where open_time = '2025-01-06'"
    ).fetchone() == (10080 - 360, False)

    incremental = mart_snapshot(conn)
    build_timeframes(database_url, full_refresh=True)
    assert mart_snapshot(conn) == incremental


@pytest.mark.slow
def test_run_without_changes_rewrites_nothing(database_url, conn, window_klines):
    """An incremental run with no new source rows leaves every mart row as it was."""
    load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"][:1440])
    age_sources(conn)
    build_timeframes(database_url)
    before = {tf: built_at(conn, tf, "BTCUSDT", WINDOW_START, WINDOW_END) for tf in MARTS}

    build_timeframes(database_url)

    assert {tf: built_at(conn, tf, "BTCUSDT", WINDOW_START, WINDOW_END) for tf in MARTS} == before


@pytest.mark.slow
def test_a_minute_is_in_the_1m_series_the_moment_it_commits(database_url, conn, window_klines):
    """analytics.candles_1m is a view over the tables: a live minute written after the last
    build is there at once, and its official kline replaces it at once, with no build between
    (before, a table, it waited for the next build, up to 5 minutes)."""
    klines = window_klines["BTCUSDT"]
    load_klines(conn, "BTCUSDT", klines[:-1])
    build_timeframes(database_url, unit_tests=False)
    last = klines[-1]
    minute = from_ms(last.open_time)
    query = (
        "select origin, trade_count from analytics.candles_1m "
        "where symbol = 'BTCUSDT' and open_time = %s"
    )
    assert conn.execute(query, (minute,)).fetchone() is None

    values = list(kline_values(last))
    values[6] += 1
    write_live(conn, "BTCUSDT", minute, values, is_closed=True)
    assert conn.execute(query, (minute,)).fetchone() == ("live_closed", last.trade_count + 1)

    load_klines(conn, "BTCUSDT", [last], source="rest")
    assert conn.execute(query, (minute,)).fetchone() == ("kline", last.trade_count)


@pytest.mark.slow
def test_a_build_rereads_what_committed_after_its_previous_read_and_nothing_older(
    database_url, conn, market, window_klines
):
    """A loader's transaction is still open while a build reads: the minute it writes commits
    after that read, and the next build rolls it up into every timeframe. The minutes loaded
    before that read are not rolled up again (with a blanket 15-minute look-back, every candle
    over them was rebuilt: the whole bootstrap, at ALL, for the first builds after it)."""
    klines = window_klines["BTCUSDT"]
    late = klines[7003]
    load_klines(conn, "BTCUSDT", [k for k in klines if k is not late])
    # Its months' partitions made (their rows moved out of the default partition, a lock the
    # open transaction below would hold up), as the platform's bootstrap does before a load.
    build_timeframes(database_url, unit_tests=False)
    # Loaded longer ago than the horizon's margin (2 s) when the next build reads.
    time.sleep(3)
    with psycopg.connect(role_url(database_url, LOADER)) as loader:
        loader.execute("select 1")  # its transaction begins here, before the build
        load_klines(loader, "BTCUSDT", [late], source="rest")
        build_timeframes(database_url, unit_tests=False)
        first = {tf: built_at(conn, tf, "BTCUSDT", WINDOW_START, WINDOW_END) for tf in MARTS[1:]}
        assert conn.execute(
            "select minute_count from analytics.candles_5m where symbol = 'BTCUSDT' "
            "and open_time = %s",
            (from_ms(bucket_start("5m", late.open_time)),),
        ).fetchone() == (4,), "the first build saw a minute not committed yet"
        loader.commit()

    build_timeframes(database_url, unit_tests=False)

    assert_equals_official(conn, market, "BTCUSDT", WINDOW_START, WINDOW_END)
    for tf in MARTS[1:]:
        rebuilt = built_at(conn, tf, "BTCUSDT", WINDOW_START, WINDOW_END) - first[tf]
        rows = conn.execute(
            sql.SQL("select count(*) from analytics.{} where built_at = any(%s)").format(
                sql.Identifier(f"candles_{tf}")
            ),
            (list(rebuilt),),
        ).fetchone()
        assert rows == (1,), f"{tf}: the second build rewrote {rows[0]} candles, not the late one's"
