"""A USDⓈ-M market's timeframes: the same dbt models and tests, built over market_usdm into
analytics_usdm, equal to every higher-interval kline the fake's /fapi/v1 serves, and spot's
analytics untouched."""

from __future__ import annotations

from decimal import Decimal

import httpx
import psycopg
import pytest

from fakebinance.server import ThreadedFakeBinance
from include.history.backfill import backfill_rest
from include.platform.times import parse_utc, to_ms
from include.timeframes import build_timeframes

pytestmark = pytest.mark.slow

# Two whole UTC days, so every 5m..1d bucket in them is whole.
START = parse_utc("2025-03-09")
END = parse_utc("2025-03-11")
INTERVALS = {"5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}


def test_usdm_marts_equal_the_contracts_own_klines(
    usdm_fake: ThreadedFakeBinance, database_url: str, conn: psycopg.Connection
) -> None:
    backfill_rest(
        ["BTCUSDT", "ETHUSDT"],
        START,
        END,
        rest_url=usdm_fake.url,
        market_name="usdm",
        series="klines",
        database_url=None,
    )
    build_timeframes(database_url, market="usdm")
    for interval, minutes in INTERVALS.items():
        for symbol in ("BTCUSDT", "ETHUSDT"):
            served = httpx.get(
                f"{usdm_fake.url}/fapi/v1/klines",
                params={
                    "symbol": symbol,
                    "interval": interval,
                    "startTime": to_ms(START),
                    "endTime": to_ms(END) - 1,
                    "limit": 1500,
                },
            ).json()
            assert len(served) == 2880 // minutes
            got = conn.execute(
                "select (extract(epoch from open_time) * 1000)::bigint, open, high, low, close, "
                "volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, "
                f"is_complete from analytics_usdm.candles_{interval} where symbol = %s "
                "and open_time >= %s and open_time < %s order by open_time",
                (symbol, START, END),
            ).fetchall()
            want = [
                (
                    int(k[0]),
                    *(Decimal(v) for v in k[1:6]),
                    Decimal(k[7]),
                    int(k[8]),
                    Decimal(k[9]),
                    Decimal(k[10]),
                    True,
                )
                for k in served
            ]
            assert got == want, (symbol, interval)
    # The 1m view is the market's own too, and spot's analytics holds none of it.
    assert conn.execute(
        "select count(*) from analytics_usdm.candles_1m where open_time >= %s and open_time < %s",
        (START, END),
    ).fetchone() == (2 * 2880,)
    spot = conn.execute("select to_regclass('analytics.candles_5m')").fetchone()[0]
    if spot is not None:
        assert conn.execute("select count(*) from analytics.candles_5m").fetchone() == (0,)


def test_reconcile_repairs_a_futures_minute_in_its_own_schema(
    usdm_fake: ThreadedFakeBinance, database_url: str, conn: psycopg.Connection
) -> None:
    """reconcile of USDⓈ-M compares analytics_usdm.candles_1m with /fapi/v1, puts back a kline
    changed in market_usdm.klines_1m, records the window in market_usdm.reconciliations and
    rebuilds analytics_usdm; spot's reconciliations stay empty."""
    from include.history.reconcile import reconcile

    backfill_rest(
        ["ETHUSDT"], START, END, rest_url=usdm_fake.url, market_name="usdm", series="klines"
    )
    build_timeframes(database_url, market="usdm")
    minute = parse_utc("2025-03-10T05:17")
    good = conn.execute(
        "select close from market_usdm.klines_1m where symbol = 'ETHUSDT' and open_time = %s",
        (minute,),
    ).fetchone()[0]
    conn.execute(
        "update market_usdm.klines_1m set close = close + 1 "
        "where symbol = 'ETHUSDT' and open_time = %s",
        (minute,),
    )
    done = reconcile(START, END, ["ETHUSDT"], rest_url=usdm_fake.url, market="usdm")
    assert done.compared["ETHUSDT"] == 2880
    assert done.repaired["ETHUSDT"] == 1
    assert [(m.open_ms, m.field) for m in done.mismatches] == [(to_ms(minute), "close")]
    assert conn.execute(
        "select close from analytics_usdm.candles_1m where symbol = 'ETHUSDT' and open_time = %s",
        (minute,),
    ).fetchone() == (good,)
    assert conn.execute(
        "select minutes_official, minutes_repaired from market_usdm.reconciliations "
        "where symbol = 'ETHUSDT'"
    ).fetchall() == [(2880, 1)]
    assert conn.execute("select count(*) from market.reconciliations").fetchone() == (0,)
