"""The marts against the fake exchange's official klines, built by real dbt on real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.timeframes import build_timeframes
from tests.support.dbt import (
    HALT,
    MARTS,
    TF_MINUTES,
    WINDOW_END,
    WINDOW_START,
    from_ms,
    kline_values,
    load_klines,
    mart_rows,
    official,
)


@pytest.mark.slow
def test_every_mart_equals_the_official_klines(database_url, conn, market, window_klines):
    """Every 1m..1w candle equals Binance's official kline of that interval, field for field."""
    for symbol, klines in window_klines.items():
        load_klines(conn, symbol, klines)

    build_timeframes(database_url)

    for tf in MARTS:
        ours = mart_rows(conn, tf, extra=("is_complete", "is_final"))
        for symbol in market.symbols:
            expected = {
                from_ms(k.open_time): kline_values(k)
                for k in official(market, symbol, tf, WINDOW_START, WINDOW_END)
            }
            got = {key[1]: row[:9] for key, row in ours.items() if key[0] == symbol}
            assert got == expected, f"{symbol} {tf}"
            size = timedelta(minutes=TF_MINUTES[tf])
            for open_time, row in ours.items():
                if open_time[0] != symbol:
                    continue
                halted = (
                    symbol == "QUIETUSDT"
                    and open_time[1] < HALT[1]
                    and open_time[1] + size > HALT[0]
                )
                assert row[9:] == (not halted, not halted), f"{symbol} {tf} {open_time[1]}"


@pytest.mark.slow
def test_weekly_candles_start_on_monday(database_url, conn, window_klines):
    """Weekly candles open on Monday 00:00 UTC, like Binance's 1w klines."""
    load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"])

    build_timeframes(database_url)

    weeks = conn.execute("select open_time from analytics.candles_1w order by 1").fetchall()
    assert [w[0].isoformat() for w in weeks] == [
        "2024-12-30T00:00:00+00:00",
        "2025-01-06T00:00:00+00:00",
    ]
    assert conn.execute(
        "select bool_and(is_complete and minute_count = 10080) from analytics.candles_1w"
    ).fetchone() == (True,)
