"""The candle checks compare every candle whose minutes its build read, however recent, and
defer exactly those with a minute written after that: checked by a later run, once rebuilt."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from include.platform.db import LOADER, role_url
from include.quality import QualityReport, run_checks
from include.timeframes import build_timeframes, mark_dirty, run_dbt
from tests.support.quality import DAY, SYMBOLS, WINDOW

pytestmark = pytest.mark.slow

HOUR = DAY + timedelta(hours=14)
# The last minute of the hour, and its 5m bucket.
MINUTE = HOUR + timedelta(minutes=59)
FIVE = HOUR + timedelta(minutes=55)
CANDLE_CHECKS = ("cross_timeframe", "timeframe_completeness")


@pytest.fixture
def db(clean_url: str):
    with psycopg.connect(clean_url, autocommit=True) as conn:
        yield conn


def check(url: str, gx_root: Path) -> QualityReport:
    return run_checks(url, WINDOW, symbols=SYMBOLS, gx_root=gx_root, expect_live=False)


def counts(report: QualityReport, timeframe: str) -> dict[str, tuple[int | None, int]]:
    table = f"analytics.candles_{timeframe}"
    return {name: report.counts()[(name, table)] for name in CANDLE_CHECKS}


def rewrite_minute(db: psycopg.Connection, written: str, *args: object) -> None:
    """ETHUSDT's MINUTE gets another volume, written at `written` (SQL over its 5m candle)."""
    db.execute(
        "update market.klines_1m set volume = volume + 1, "
        f"loaded_at = ({written}) where symbol = 'ETHUSDT' and open_time = %s",
        (*args, MINUTE),
    )


SNAPSHOT = (
    "select source_changed_at from analytics.candles_5m where symbol = 'ETHUSDT' and open_time = %s"
)


def test_candles_built_just_now_are_all_compared(clean_url: str, db, gx_root: Path) -> None:
    """Minutes written just before the build (the fixture's, as the soak's): every candle of
    the window is compared, none deferred, and the report prints the counts per check."""
    report = check(clean_url, gx_root)
    assert report.success, report.summary()
    assert counts(report, "1h") == {name: (2 * 24, 0) for name in CANDLE_CHECKS}
    assert counts(report, "5m") == {name: (2 * 288, 0) for name in CANDLE_CHECKS}
    assert report.counts()[("key_unique", "market.klines_1m")] == (2 * 1440, 0)
    assert "    cross_timeframe: 48 compared, 0 deferred" in report.summary()


def test_a_wrong_candle_over_fresh_minutes_fails(clean_url: str, db, gx_root: Path) -> None:
    """A wrong 5m close whose minutes were written just before its build is reported: a candle
    is compared whenever its build read every one of its minutes (here the minute's write time
    is the newest the candle was built from: the boundary's compared side)."""
    rewrite_minute(db, SNAPSHOT, FIVE)
    db.execute(
        "update analytics.candles_5m set close = close + 0.01 "
        "where symbol = 'ETHUSDT' and open_time = %s",
        (FIVE,),
    )
    report = check(clean_url, gx_root)
    failing = {(r.name, r.table) for r in report.failures}
    assert ("cross_timeframe", "analytics.candles_5m") in failing, report.summary()


def test_a_minute_written_after_the_build_defers_its_candle_until_a_later_run(
    clean_url: str, db, gx_root: Path
) -> None:
    """A loader's transaction, open while a build reads, rewrites a minute and commits after:
    its candle is deferred (no failure); a later run after the build that read it compares it
    again, and fails it if it is wrong; the next build reads it and the candle is right."""
    with psycopg.connect(role_url(clean_url, LOADER)) as loader:
        rewrite_minute(loader, "now()")
        build_timeframes(clean_url)
        [written] = loader.execute("select now()").fetchone()
    report = check(clean_url, gx_root)
    assert report.success, report.summary()
    assert counts(report, "5m")["cross_timeframe"] == (2 * 288 - 1, 1)
    assert "    cross_timeframe: 575 compared, 1 deferred" in report.summary()

    # A build that read the minute, but got the candle wrong: the next run compares it.
    db.execute(
        "update analytics.candles_5m set source_changed_at = %s "
        "where symbol = 'ETHUSDT' and open_time = %s",
        (written, FIVE),
    )
    report = check(clean_url, gx_root)
    [failure] = report.failures
    assert (failure.name, failure.table, failure.compared, failure.deferred) == (
        "cross_timeframe",
        "analytics.candles_5m",
        2 * 288,
        0,
    )
    assert failure.rows[0]["differing_fields"] == "volume"

    build_timeframes(clean_url)
    report = check(clean_url, gx_root)
    assert report.success, report.summary()
    for timeframe in ("5m", "1h"):
        assert counts(report, timeframe)["cross_timeframe"][1] == 0


def test_a_bucket_written_after_the_build_defers_completeness(
    clean_url: str, db, gx_root: Path
) -> None:
    """A minute that appears after the build (its 5m candle counts 4) defers completeness for
    that candle; one missing from a candle that read it fails at once."""
    db.execute(
        "delete from market.klines_1m where symbol = 'BTCUSDT' and open_time = %s", (MINUTE,)
    )
    report = check(clean_url, gx_root)
    failing = {(r.name, r.table) for r in report.failures}
    assert ("timeframe_completeness", "analytics.candles_5m") in failing, report.summary()
    result = next(
        r
        for r in report.failures
        if r.table == "analytics.candles_5m" and r.name == "timeframe_completeness"
    )
    assert [(row["symbol"], row["open_time"]) for row in result.rows] == [("BTCUSDT", FIVE)]

    mark_dirty(db, "BTCUSDT", MINUTE, MINUTE + timedelta(minutes=1), "deleted")
    build_timeframes(clean_url)
    # The minute comes back after the build that counted 4.
    db.execute(
        "insert into market.klines_1m select symbol, %s, open, high, low, close, volume, "
        "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source "
        "from market.klines_1m where symbol = 'BTCUSDT' and open_time = %s",
        (MINUTE, MINUTE - timedelta(minutes=1)),
    )
    report = check(clean_url, gx_root)
    assert report.success, report.summary()
    assert counts(report, "5m")["timeframe_completeness"] == (2 * 288 - 1, 1)


def contiguity(url: str) -> bool:
    """Whether dbt's contiguity test on candles_5m passes."""
    run = run_dbt(["test", "--select", "candles_5m,test_name:candles_complete_contiguous"], url)
    assert "candles_complete_contiguous" in run.output, run.output
    return run.ok


def test_dbt_contiguity_checks_a_candle_until_a_minute_is_written_after_it(
    clean_url: str, db
) -> None:
    """dbt's contiguity test sees a minute missing from a candle built just now (its minutes
    were written just before the build), and defers the candle only once one of its minutes is
    written after the newest write it was built from."""
    assert contiguity(clean_url)
    db.execute(
        "delete from market.klines_1m where symbol = 'BTCUSDT' and open_time = %s", (MINUTE,)
    )
    assert not contiguity(clean_url)
    db.execute(
        "update market.klines_1m set loaded_at = (select source_changed_at "
        "from analytics.candles_5m where symbol = 'BTCUSDT' and open_time = %s) "
        "where symbol = 'BTCUSDT' and open_time = %s",
        (FIVE, MINUTE - timedelta(minutes=1)),
    )
    assert not contiguity(clean_url)
    db.execute(
        "update market.klines_1m set loaded_at = loaded_at + interval '1 microsecond' "
        "where symbol = 'BTCUSDT' and open_time = %s",
        (MINUTE - timedelta(minutes=1),),
    )
    assert contiguity(clean_url)
