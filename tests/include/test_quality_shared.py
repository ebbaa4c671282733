"""Checks sharing one pass over a table (checks.Check.shared): each still reports its own rows,
columns and count, and the shared query runs once per run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from include.quality import run_checks
from tests.support.quality import DAY, SYMBOLS, WINDOW

pytestmark = pytest.mark.slow


@pytest.fixture
def db(clean_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_url, autocommit=True) as conn:
        yield conn


def test_one_candle_breaking_every_row_rule_fails_each_check_with_its_own_row(
    clean_url: str, db, gx_root: Path
) -> None:
    """A kline breaking the price, volume and taker rules at once fails each of the three
    checks that read the klines in one pass, each with that one row in its own columns."""
    minute = DAY + timedelta(hours=5, minutes=11)
    db.execute(
        "update market.klines_1m set high = low - 1, trade_count = -1, "
        "taker_buy_volume = volume + 1 where symbol = 'BTCUSDT' and open_time = %s",
        (minute,),
    )
    high, low, volume = db.execute(
        "select high, low, volume from market.klines_1m where symbol = 'BTCUSDT' "
        "and open_time = %s",
        (minute,),
    ).fetchone()
    report = run_checks(clean_url, WINDOW, symbols=SYMBOLS, expect_live=False, gx_root=gx_root)
    by_name = {r.name: r for r in report.failures if r.table == "market.klines_1m"}
    assert set(by_name) == {"ohlc_invariants", "volumes_non_negative", "taker_within_volume"}
    for result in by_name.values():
        assert result.unexpected_count == 1, result.describe()
        assert (result.rows[0]["symbol"], result.rows[0]["open_time"]) == ("BTCUSDT", minute)
        assert result.compared == len(SYMBOLS) * 1440
    [ohlc] = by_name["ohlc_invariants"].rows
    assert list(ohlc) == ["symbol", "open_time", "open", "high", "low", "close", "problem"]
    assert (ohlc["high"], ohlc["low"], ohlc["problem"]) == (high, low, "high below low")
    [volumes] = by_name["volumes_non_negative"].rows
    assert list(volumes) == [
        "symbol",
        "open_time",
        "negative_or_null",
        "volume",
        "quote_volume",
        "trade_count",
        "taker_buy_volume",
        "taker_buy_quote_volume",
    ]
    assert (volumes["negative_or_null"], volumes["trade_count"]) == ("trade_count", -1)
    [taker] = by_name["taker_within_volume"].rows
    assert list(taker) == [
        "symbol",
        "open_time",
        "volume",
        "taker_buy_volume",
        "quote_volume",
        "taker_buy_quote_volume",
    ]
    # Exact decimals, as the table holds them.
    assert isinstance(taker["taker_buy_volume"], Decimal)
    assert taker["taker_buy_volume"] == volume + 1


def test_a_shared_query_runs_once_and_each_check_gets_its_rows(
    clean_url: str, db, gx_root: Path
) -> None:
    """Two checks sharing a query: it runs once; each check's count is all of its rows, and its
    first 200 rows come in the query's order, with its own columns only."""
    from include.quality.checks import Check
    from include.quality.runner import validate

    db.execute("create sequence quality_probe")
    query = (
        "select case when candle.symbol = 'ETHUSDT' then 'eth' else 'btc' end as _quality_check, "
        "candle.symbol, candle.open_time, nextval('quality_probe') as executed, "
        "candle.close from {batch} as candle cross join (select 1) as one "
        "where candle.open_time < '2025-01-06 05:00+00' order by candle.symbol, candle.open_time"
    )
    eth = Check("eth", "market.klines_1m", "ETH's", shared="probe", columns=("open_time", "close"))
    btc = Check("btc", "market.klines_1m", "BTC's", shared="probe", columns=("symbol", "executed"))
    results = validate(clean_url, gx_root, {eth: query, btc: query})
    assert db.execute("select last_value from quality_probe").fetchone()[0] == 2 * 300
    by_name = {r.name: r for r in results}
    assert [(r.name, r.success, r.unexpected_count) for r in results] == [
        ("eth", False, 300),
        ("btc", False, 300),
    ]
    assert len(by_name["eth"].rows) == len(by_name["btc"].rows) == 200
    assert [r["open_time"] for r in by_name["eth"].rows] == [
        DAY + timedelta(minutes=m) for m in range(200)
    ]
    assert set(by_name["eth"].rows[0]) == {"open_time", "close"}
    assert set(by_name["btc"].rows[0]) == {"symbol", "executed"}
    assert {r["symbol"] for r in by_name["btc"].rows} == {"BTCUSDT"}


def test_the_reports_minutes_are_the_views_rows_in_the_window(
    clean_url: str, db, gx_root: Path
) -> None:
    """continuity_minutes' pass counts the report's rows of analytics.candles_1m: every minute
    of the window, a live one standing in for a missing kline and a symbol not checked
    included, as a count of the view gives them."""
    db.execute(
        "delete from market.klines_1m where symbol = 'ETHUSDT' and open_time >= %s",
        (WINDOW.end - timedelta(minutes=30),),
    )
    report = run_checks(clean_url, WINDOW, symbols=["BTCUSDT"], expect_live=False, gx_root=gx_root)
    [counted] = db.execute(
        "select count(*) from analytics.candles_1m where open_time >= %s and open_time < %s",
        (WINDOW.start, WINDOW.end),
    ).fetchone()
    assert counted == len(SYMBOLS) * 1440
    assert report.rows_checked["analytics.candles_1m"] == counted
    [continuity] = [r for r in report.results if r.name == "continuity_minutes"]
    assert (continuity.compared, continuity.deferred) == (counted, 0)
    assert list(report.rows_checked)[:3] == [
        "market.candles_1m_live",
        "market.klines_1m",
        "analytics.candles_1m",
    ]
