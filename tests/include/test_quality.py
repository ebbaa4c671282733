"""Data-quality checks: clean fake-exchange data passes, each injected defect fails by name."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from include.cli import app
from include.platform.db import MARTS_LOCK_KEY
from include.quality import QualityCheckFailed, QualityReport, Window, run_checks
from include.quality.checks import HIGHER_TIMEFRAMES, params_cte
from tests.support.quality import COLUMNS, DAY, LIVE_HOURS, SYMBOLS, WINDOW

pytestmark = pytest.mark.slow


@pytest.fixture
def db(clean_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test's copy of the clean database."""
    with psycopg.connect(clean_url, autocommit=True) as conn:
        yield conn


def check(url: str, gx_root: Path, **kwargs: object) -> QualityReport:
    """Run every check over the clean day for the test symbols."""
    kwargs.setdefault("expect_live", False)
    return run_checks(url, WINDOW, symbols=SYMBOLS, gx_root=gx_root, **kwargs)


def failed(report: QualityReport) -> set[tuple[str, str]]:
    """(check, table) of every failed critical check."""
    return {(r.name, r.table) for r in report.failures}


def failure(report: QualityReport, name: str, table: str):
    """The one failed result of a check on a table."""
    [result] = [r for r in report.failures if (r.name, r.table) == (name, table)]
    return result


def test_clean_data_passes_every_check(clean_url: str, gx_root: Path) -> None:
    """Clean fake-exchange data built by dbt passes every expectation, and Data Docs are built."""
    report = check(clean_url, gx_root)
    assert report.success, report.summary()
    names = {r.name for r in report.results}
    assert {
        "structure_columns",
        "key_not_null",
        "key_unique",
        "ohlc_invariants",
        "volumes_non_negative",
        "taker_within_volume",
        "continuity_minutes",
        "timeframe_completeness",
        "cross_timeframe",
        "live_reconciliation",
    } <= names
    # dbt owns the marts' columns, keys and invariants (tests/dbt/test_contracts.py): GX checks
    # the marts only against other tables.
    assert {r.name for r in report.results if r.table.startswith("analytics.")} == {
        "continuity_minutes",
        "timeframe_completeness",
        "cross_timeframe",
    }
    assert {r.table for r in report.results if r.name == "key_unique"} == {
        "market.klines_1m",
        "market.candles_1m_live",
    }
    assert report.rows_checked["market.klines_1m"] == 2 * 1440
    assert report.rows_checked["analytics.candles_1h"] == 2 * 24
    assert report.reconciled == {s: LIVE_HOURS * 60 for s in SYMBOLS}
    assert report.summary().startswith("data quality passed:")
    assert (gx_root / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()
    assert (gx_root / "expectations" / "analytics_candles_1h.json").exists()


def test_a_run_logs_its_results_not_library_chatter(
    clean_url: str, gx_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A quality run's log is a handful of lines from the platform, not GX's INFO stream."""
    caplog.set_level(logging.INFO)
    assert check(clean_url, gx_root).success
    library = [r for r in caplog.records if not r.name.startswith("include.")]
    assert library == [], f"{len(library)} library lines, first: {library[0].getMessage()}"
    assert 0 < len(caplog.records) < 10


def test_high_below_low_fails_ohlc_invariants(clean_url: str, db, gx_root: Path) -> None:
    """A kline whose high is below its low fails ohlc_invariants on that table and symbol."""
    minute = DAY + timedelta(hours=3, minutes=7)
    db.execute(
        "update market.klines_1m set high = low - 1 where symbol = 'ETHUSDT' and open_time = %s",
        (minute,),
    )
    report = check(clean_url, gx_root)
    assert failed(report) == {("ohlc_invariants", "market.klines_1m")}
    result = failure(report, "ohlc_invariants", "market.klines_1m")
    assert result.unexpected_count == 1
    assert result.rows[0]["symbol"] == "ETHUSDT"
    assert result.rows[0]["open_time"] == minute
    assert result.rows[0]["problem"] == "high below low"
    summary = report.summary()
    assert "ohlc_invariants on market.klines_1m" in summary.splitlines()[0]
    assert "ETHUSDT" in summary
    assert "high below low" in summary


def test_duplicate_key_fails_key_unique(clean_url: str, db, gx_root: Path) -> None:
    """A second kline with the same key fails key_unique on market.klines_1m."""
    # The migrations give the table its primary key; a table without it is how duplicates get in.
    db.execute("alter table market.klines_1m drop constraint klines_1m_pkey")
    minute = DAY + timedelta(hours=5, minutes=3)
    db.execute(
        "insert into market.klines_1m select * from market.klines_1m "
        "where symbol = 'BTCUSDT' and open_time = %s",
        (minute,),
    )
    report = check(clean_url, gx_root)
    assert ("key_unique", "market.klines_1m") in failed(report)
    row = failure(report, "key_unique", "market.klines_1m").rows[0]
    assert (row["symbol"], row["open_time"], row["copies"]) == ("BTCUSDT", minute, 2)


def delete_minutes(db: psycopg.Connection, where: str, params: tuple) -> None:
    """Take minutes out of analytics.candles_1m: it is a view, so out of both its sources."""
    for table in ("market.klines_1m", "market.candles_1m_live"):
        db.execute(f"delete from {table} where {where}", params)


def drop_dbt_views(db: psycopg.Connection) -> None:
    """dbt's staging views read the raw columns; PostgreSQL alters none a view depends on."""
    db.execute("drop schema analytics_staging cascade")


def test_wrong_column_type_fails_structure(clean_url: str, db, gx_root: Path) -> None:
    """A DESIGN column stored as a float fails structure_columns naming the column and types."""
    drop_dbt_views(db)
    db.execute("alter table market.candles_1m_live alter column volume type double precision")
    report = check(clean_url, gx_root)
    assert ("structure_columns", "market.candles_1m_live") in failed(report)
    [row] = failure(report, "structure_columns", "market.candles_1m_live").rows
    assert row == {
        "column_name": "volume",
        "expected_type": "numeric",
        "actual_type": "double precision",
    }


def test_missing_column_fails_structure(clean_url: str, db, gx_root: Path) -> None:
    """A dropped DESIGN column fails structure_columns as missing instead of crashing the run."""
    drop_dbt_views(db)
    db.execute("alter table market.candles_1m_live drop column taker_buy_quote_volume")
    report = check(clean_url, gx_root)
    rows = failure(report, "structure_columns", "market.candles_1m_live").rows
    assert [(r["column_name"], r["actual_type"]) for r in rows] == [
        ("taker_buy_quote_volume", "missing")
    ]
    # Dropping dbt's views took the analytics.candles_1m view with them, so the checks that
    # compare the marts with their minutes fail too; no other market table is touched.
    assert {r.table for r in report.failures if r.table.startswith("market.")} == {
        "market.candles_1m_live"
    }
    assert {r.name for r in report.failures if r.table.startswith("analytics.")} <= {
        "timeframe_completeness",
        "cross_timeframe",
    }


def test_missing_minute_fails_continuity(clean_url: str, db, gx_root: Path) -> None:
    """A minute missing from the unified series fails continuity_minutes naming symbol and time."""
    minute = DAY + timedelta(hours=9, minutes=42)
    delete_minutes(db, "symbol = 'BTCUSDT' and open_time = %s", (minute,))
    report = check(clean_url, gx_root)
    result = failure(report, "continuity_minutes", "analytics.candles_1m")
    [row] = result.rows
    assert (row["symbol"], row["first_missing"], row["minutes_missing"]) == (
        "BTCUSDT",
        minute,
        1,
    )
    # The higher timeframes still claim that minute, so their checks see it too, nothing else.
    assert all(r.symbols == ["BTCUSDT"] for r in report.failures)
    assert report.summary().splitlines()[0].count("continuity_minutes") == 1


def test_a_minute_healed_is_there_for_the_next_check_without_a_build(
    clean_url: str, db, gx_root: Path
) -> None:
    """heal-gaps commits a kline the streamer missed, and the check that runs next finds the
    minute in analytics.candles_1m, with no dbt build between them (it is a view over the
    sources; the soak once saw a table-built mart miss a minute healed two seconds after its
    build)."""
    minute = DAY + timedelta(hours=21, minutes=14)
    kline = db.execute(
        "select * from market.klines_1m where symbol = 'ETHUSDT' and open_time = %s", (minute,)
    ).fetchone()
    delete_minutes(db, "symbol = 'ETHUSDT' and open_time = %s", (minute,))
    report = check(clean_url, gx_root)
    [row] = failure(report, "continuity_minutes", "analytics.candles_1m").rows
    assert (row["symbol"], row["first_missing"]) == ("ETHUSDT", minute)

    placeholders = ", ".join(["%s"] * len(kline))
    db.execute(f"insert into market.klines_1m values ({placeholders})", kline)
    report = check(clean_url, gx_root)
    assert ("continuity_minutes", "analytics.candles_1m") not in failed(report), report.summary()


def test_continuity_starts_at_the_window_or_at_the_symbols_first_minute(
    clean_url: str, db, gx_root: Path
) -> None:
    """A window opening after a symbol's first minute is checked from its start (a hole there
    is missing, whether the earlier minutes are klines or only live rows); a symbol whose first
    minute lies inside the window (listed then) is checked from that minute on."""

    def continuity(window: Window) -> list[tuple]:
        report = run_checks(clean_url, window, symbols=SYMBOLS, expect_live=False, gx_root=gx_root)
        [result] = [r for r in report.results if r.name == "continuity_minutes"]
        return [(r["symbol"], r["first_missing"], r["minutes_missing"]) for r in result.rows]

    noon = DAY + timedelta(hours=12)
    delete_minutes(
        db,
        "symbol = 'BTCUSDT' and open_time >= %s and open_time < %s",
        (noon, noon + timedelta(minutes=3)),
    )
    # ETHUSDT first traded at 12:05.
    delete_minutes(db, "symbol = 'ETHUSDT' and open_time < %s", (noon + timedelta(minutes=5),))
    assert continuity(Window(noon, WINDOW.end)) == [("BTCUSDT", noon, 3)]

    # Before 23:00 ETHUSDT now has only the live minutes the streamer wrote from 22:00.
    late = WINDOW.end - timedelta(hours=1)
    db.execute("delete from market.klines_1m where symbol = 'ETHUSDT' and open_time < %s", (late,))
    delete_minutes(
        db,
        "symbol = 'ETHUSDT' and open_time >= %s and open_time < %s",
        (late, late + timedelta(minutes=2)),
    )
    assert continuity(Window(late, WINDOW.end)) == [("ETHUSDT", late, 2)]


def test_continuity_reaches_data_ahead_of_the_hosts_clock(
    clean_url: str, db, gx_root: Path
) -> None:
    """A market running ahead of the host's clock (a replay, the soak's accelerated market):
    the last build ran at the host's 12:00 while the data reaches the day's end. A minute
    missing at 20:00 is still a hole: each symbol is checked up to its own newest final minute,
    not only up to the host's time of the build."""
    built = DAY + timedelta(hours=12)
    db.execute("update analytics.candles_5m set built_at = %s", (built,))
    minute = DAY + timedelta(hours=20, minutes=7)
    delete_minutes(db, "symbol = 'ETHUSDT' and open_time = %s", (minute,))
    report = check(clean_url, gx_root)
    [row] = failure(report, "continuity_minutes", "analytics.candles_1m").rows
    assert (row["symbol"], row["first_missing"], row["minutes_missing"]) == ("ETHUSDT", minute, 1)


def test_the_default_window_ends_at_the_markets_minute_when_the_data_is_ahead(
    clean_url: str, db, gx_root: Path
) -> None:
    """An Asset-triggered run has no data interval: its 24 hours end at the host's minute, or
    at the market's when the streamer writes minutes ahead of it, so the live minutes are in
    the window the run checks."""
    from include.jobs import data_quality
    from include.quality import market_minute

    assert market_minute(clean_url) is None, "no live row written in the last minutes"
    now = db.execute("select date_trunc('minute', now())").fetchone()[0]
    ahead = now + timedelta(minutes=40)
    for symbol in SYMBOLS:
        # The minute just closed and the one the market is in, both written now.
        for minute, closed in ((ahead - timedelta(minutes=1), True), (ahead, False)):
            db.execute(
                f"insert into market.candles_1m_live ({COLUMNS}, is_closed) "
                "values (%s, %s, 1, 1, 1, 1, 0, 0, 1, 0, 0, %s)",
                (symbol, minute, closed),
            )
    assert market_minute(clean_url) == ahead
    # The clean day lies in 2025 and nothing was built since: the run finds everything after
    # it a hole (its report is what matters here).
    with pytest.raises(QualityCheckFailed) as raised:
        data_quality(None, None, list(SYMBOLS), False, run_after=now)
    report = raised.value.report
    assert report.window == Window(ahead - timedelta(days=1), ahead)
    # The closed live minute of each symbol is checked (against its kline, for one).
    assert report.rows_checked["market.candles_1m_live"] == len(SYMBOLS)


def test_recorded_gap_is_reported_not_failed(clean_url: str, db, gx_root: Path) -> None:
    """Minutes inside a recorded, unhealed gap are reported as such and do not fail continuity."""
    start = DAY + timedelta(hours=10)
    delete_minutes(
        db,
        "symbol = 'ETHUSDT' and open_time >= %s and open_time < %s + interval '3 minutes'",
        (start, start),
    )
    db.execute(
        "insert into market.ingest_gaps (symbol, gap_start, gap_end, reason, detected_by) "
        "values ('ETHUSDT', %s, %s + interval '3 minutes', 'halted', 'test')",
        (start, start),
    )
    report = check(clean_url, gx_root)
    assert ("continuity_minutes", "analytics.candles_1m") not in failed(report)
    [note] = [n for n in report.notes if n.name != "reconciled_share"]
    assert note.name == "unhealed_gaps"
    assert note.rows[0]["gap_start"] == start
    assert "note: unhealed_gaps on market.ingest_gaps" in report.summary()


def test_a_window_reports_only_defects_inside_it(clean_url: str, db, gx_root: Path) -> None:
    """A run over the day's second half does not see defects of the first half (it reads only
    its window), and a run over the whole day reports each of them by name."""
    second_half = Window(DAY + timedelta(hours=12), WINDOW.end)
    early = DAY + timedelta(hours=3, minutes=7)
    db.execute(
        "update market.klines_1m set high = low - 1 where symbol = 'ETHUSDT' and open_time = %s",
        (early,),
    )
    delete_minutes(db, "symbol = 'BTCUSDT' and open_time = %s", (early + timedelta(hours=1),))
    db.execute(
        "update analytics.candles_1h set close = close + 0.01 "
        "where symbol = 'ETHUSDT' and open_time = %s",
        (DAY + timedelta(hours=5),),
    )
    db.execute(
        "insert into market.ingest_gaps (symbol, gap_start, gap_end, reason, detected_by) "
        "values ('BTCUSDT', %s, %s, 'ws_disconnect', 'test')",
        (DAY + timedelta(hours=8), DAY + timedelta(hours=8, minutes=5)),
    )
    inside = run_checks(clean_url, second_half, symbols=SYMBOLS, gx_root=gx_root, expect_live=False)
    assert inside.success, inside.summary()
    assert [n.name for n in inside.notes] == ["reconciled_share"]
    assert inside.rows_checked["market.klines_1m"] == 2 * 720

    whole = check(clean_url, gx_root)
    assert {
        ("ohlc_invariants", "market.klines_1m"),
        ("continuity_minutes", "analytics.candles_1m"),
        ("cross_timeframe", "analytics.candles_1h"),
    } <= failed(whole)
    assert "unhealed_gaps" in {n.name for n in whole.notes}


def test_a_halt_reaching_into_the_window_exempts_its_minutes(
    clean_url: str, db, gx_root: Path
) -> None:
    """A halt that began before the window still covers the minutes it holds inside it: they
    are reported as a halt, not missing (gaps are looked up by overlap with the window)."""
    second_half = Window(DAY + timedelta(hours=12), WINDOW.end)
    start, end = DAY + timedelta(hours=11), DAY + timedelta(hours=13)
    delete_minutes(db, "symbol = 'ETHUSDT' and open_time >= %s and open_time < %s", (start, end))
    db.execute(
        "insert into market.ingest_gaps (symbol, gap_start, gap_end, reason, detected_by, "
        "healed_at) values ('ETHUSDT', %s, %s, 'halt', 'test', now())",
        (start, end),
    )
    report = run_checks(clean_url, second_half, symbols=SYMBOLS, gx_root=gx_root, expect_live=False)
    assert ("continuity_minutes", "analytics.candles_1m") not in failed(report)
    [halt] = [n for n in report.notes if n.name == "halts"]
    assert (halt.rows[0]["symbol"], halt.rows[0]["gap_start"]) == ("ETHUSDT", start)

    db.execute("delete from market.ingest_gaps")
    report = run_checks(clean_url, second_half, symbols=SYMBOLS, gx_root=gx_root, expect_live=False)
    [row] = failure(report, "continuity_minutes", "analytics.candles_1m").rows
    assert (row["symbol"], row["first_missing"], row["minutes_missing"]) == (
        "ETHUSDT",
        second_half.start,
        60,
    )


def test_each_check_query_runs_once(clean_url: str, db, gx_root: Path) -> None:
    """GX's UnexpectedRowsExpectation ran each query twice (a count, then the rows); ours runs
    it once and still reports the full count, the first 200 rows in the query's order."""
    from include.quality.checks import Check
    from include.quality.runner import validate

    db.execute("create sequence quality_probe")
    probe = Check("probe", "market.klines_1m", "a query that counts its executions")
    # Like every check, it joins (GX then leaves the batch unaliased for our own alias).
    query = (
        "select candle.symbol, candle.open_time, nextval('quality_probe') as executed "
        "from {batch} as candle cross join (select 1) as one "
        "where candle.symbol = 'ETHUSDT' order by candle.open_time"
    )
    [result] = validate(clean_url, gx_root, {probe: query})
    assert db.execute("select last_value from quality_probe").fetchone()[0] == 1440
    assert (result.name, result.success, result.unexpected_count) == ("probe", False, 1440)
    assert len(result.rows) == 200
    assert [r["open_time"] for r in result.rows] == [DAY + timedelta(minutes=m) for m in range(200)]
    assert set(result.rows[0]) == {"symbol", "open_time", "executed"}


def test_stored_results_stay_the_size_of_the_runs_kept(clean_url: str, gx_root: Path) -> None:
    """Each run keeps the newest keep_runs runs' results and Data Docs pages, so the store GX
    reads to build the index (which made every run slower than the last) stops growing."""
    results = gx_root / "uncommitted" / "validations"
    pages = gx_root / "uncommitted" / "data_docs" / "local_site" / "validations"

    def runs_stored(top: Path, suffix: str) -> set[str]:
        # <suite>/<run name>/<run time>/<batch>.json|.html
        return {path.parent.name for path in top.rglob(f"*{suffix}")}

    stored: list[set[str]] = []
    for _ in range(3):
        report = check(clean_url, gx_root, keep_runs=2)
        assert report.success, report.summary()
        stored.append(runs_stored(results, ".json"))
        assert runs_stored(pages, ".html") == stored[-1]
    assert [len(runs) for runs in stored] == [1, 2, 2]
    assert not stored[0] & stored[2]
    # No directory of a removed run is left behind to walk.
    assert all(any(d.iterdir()) for d in results.rglob("*") if d.is_dir())
    index = (gx_root / "uncommitted" / "data_docs" / "local_site" / "index.html").read_text()
    assert all(run in index for run in stored[2])


def test_stale_live_table_fails_freshness(clean_url: str, db, gx_root: Path) -> None:
    """With the streamer expected, a newest closed live candle 10 minutes old fails freshness."""
    now = db.execute("select date_trunc('minute', now())").fetchone()[0]
    for symbol in SYMBOLS:
        db.execute(
            f"insert into market.candles_1m_live ({COLUMNS}, is_closed) "
            "values (%s, %s, 1, 1, 1, 1, 0, 0, 0, 0, 0, true)",
            (symbol, now - timedelta(minutes=1)),
        )
    assert check(clean_url, gx_root, expect_live=True).success

    db.execute(
        "update market.candles_1m_live set open_time = open_time - interval '10 minutes' "
        "where symbol = 'ETHUSDT' and open_time = %s",
        (now - timedelta(minutes=1),),
    )
    report = check(clean_url, gx_root, expect_live=True)
    assert failed(report) == {("live_freshness", "market.candles_1m_live")}
    [row] = failure(report, "live_freshness", "market.candles_1m_live").rows
    assert row["symbol"] == "ETHUSDT"
    assert row["newest_closed_minute"] == now - timedelta(minutes=11)


def test_freshness_is_automatic_only_while_the_streamer_writes(
    clean_url: str, db, gx_root: Path
) -> None:
    """By default freshness is judged only when live rows were written in the last hour."""
    now = datetime.now(UTC)
    window = Window(now - timedelta(minutes=10), now)
    report = run_checks(clean_url, window, symbols=SYMBOLS, gx_root=gx_root)
    assert "live_freshness" not in {r.name for r in report.results}

    db.execute("update market.candles_1m_live set updated_at = now() - interval '20 minutes'")
    report = run_checks(clean_url, window, symbols=SYMBOLS, gx_root=gx_root)
    assert ("live_freshness", "market.candles_1m_live") in failed(report)


def test_live_candle_differing_from_kline_fails_reconciliation(
    clean_url: str, db, gx_root: Path
) -> None:
    """A closed live candle one trade off its kline fails reconciliation and shows the share."""
    minute = WINDOW.end - timedelta(minutes=30)
    db.execute(
        "update market.candles_1m_live set trade_count = trade_count + 1 "
        "where symbol = 'BTCUSDT' and open_time = %s",
        (minute,),
    )
    report = check(clean_url, gx_root)
    assert failed(report) == {("live_reconciliation", "market.candles_1m_live")}
    [row] = failure(report, "live_reconciliation", "market.candles_1m_live").rows
    assert (row["symbol"], row["open_time"], row["differing_fields"]) == (
        "BTCUSDT",
        minute,
        "trade_count",
    )
    assert (row["symbol_differing"], row["symbol_compared"]) == (1, LIVE_HOURS * 60)
    assert f"BTCUSDT 1/{LIVE_HOURS * 60}, ETHUSDT 0/{LIVE_HOURS * 60}" in report.summary()


def test_hour_not_equal_to_its_minutes_fails_cross_timeframe(
    clean_url: str, db, gx_root: Path
) -> None:
    """A complete 1h candle whose close is not its last minute's close fails cross_timeframe."""
    hour = DAY + timedelta(hours=14)
    db.execute(
        "update analytics.candles_1h set close = close + 0.01 "
        "where symbol = 'ETHUSDT' and open_time = %s",
        (hour,),
    )
    report = check(clean_url, gx_root)
    assert failed(report) == {("cross_timeframe", "analytics.candles_1h")}
    [row] = failure(report, "cross_timeframe", "analytics.candles_1h").rows
    assert (row["symbol"], row["open_time"], row["differing_fields"]) == (
        "ETHUSDT",
        hour,
        "close",
    )


WAITING_FOR_LOCK = (
    "select exists (select 1 from pg_locks where locktype = 'advisory' and not granted)"
)


def test_a_check_waits_for_a_build_in_progress(clean_url: str, db, gx_root: Path) -> None:
    """A build commits the marts one model at a time: a check started between two commits
    (the 1h mart rewritten, the 1m one not yet) waits for the build and checks what it left,
    instead of failing on the half-built state."""
    hour = DAY + timedelta(hours=14)
    with psycopg.connect(clean_url, autocommit=True) as build:
        # What include.timeframes.build_timeframes holds for the whole of `dbt build`.
        build.execute("select pg_advisory_lock(%s)", (MARTS_LOCK_KEY,))
        db.execute(
            "update analytics.candles_1h set close = close + 0.01 "
            "where symbol = 'ETHUSDT' and open_time = %s",
            (hour,),
        )
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(check, clean_url, gx_root)
            deadline = time.monotonic() + 120
            while not running.done() and time.monotonic() < deadline:
                if db.execute(WAITING_FOR_LOCK).fetchone()[0]:
                    break
                time.sleep(0.05)
            assert not running.done(), (
                "the check ran beside a build in progress: " + running.result().summary()
            )
            db.execute(
                "update analytics.candles_1h set close = close - 0.01 "
                "where symbol = 'ETHUSDT' and open_time = %s",
                (hour,),
            )
            build.execute("select pg_advisory_unlock(%s)", (MARTS_LOCK_KEY,))
            report = running.result(timeout=300)
    assert report.success, report.summary()


def test_a_wrong_quarter_hour_fails_only_its_own_timeframe(
    clean_url: str, db, gx_root: Path
) -> None:
    """The last 15m candle of an hour with a wrong close and trade count fails cross_timeframe
    on 15m alone: the 1h candle over it is right, though it no longer equals its quarters."""
    quarter = DAY + timedelta(hours=14, minutes=45)
    db.execute(
        "update analytics.candles_15m set close = close + 0.01, trade_count = trade_count + 1, "
        "minute_count = minute_count - 1 where symbol = 'ETHUSDT' and open_time = %s",
        (quarter,),
    )
    report = check(clean_url, gx_root)
    assert failed(report) == {
        ("cross_timeframe", "analytics.candles_15m"),
        ("timeframe_completeness", "analytics.candles_15m"),
    }
    [row] = failure(report, "cross_timeframe", "analytics.candles_15m").rows
    assert (row["symbol"], row["open_time"], row["differing_fields"]) == (
        "ETHUSDT",
        quarter,
        "close, trade_count",
    )


def test_a_candle_past_the_windows_end_is_checked_against_its_minutes(
    clean_url: str, db, gx_root: Path
) -> None:
    """A window ending mid-hour: the complete 1h candle over its end is compared with its
    minutes, not only with its quarters, which past the window's end no check of this window
    covers (here the last quarter and the hour are wrong alike)."""
    hour = DAY + timedelta(hours=14)
    for table, start in (("15m", hour + timedelta(minutes=45)), ("1h", hour)):
        db.execute(
            sql.SQL(
                "update analytics.{} set close = close + 0.01 "
                "where symbol = 'ETHUSDT' and open_time = %s"
            ).format(sql.Identifier(f"candles_{table}")),
            (start,),
        )
    window = Window(DAY, hour + timedelta(minutes=30))
    report = run_checks(clean_url, window, symbols=SYMBOLS, gx_root=gx_root, expect_live=False)
    assert failed(report) == {("cross_timeframe", "analytics.candles_1h")}
    [row] = failure(report, "cross_timeframe", "analytics.candles_1h").rows
    assert (row["open_time"], row["differing_fields"]) == (hour, "close")


def test_incomplete_flag_disagreeing_with_minutes_fails_completeness(
    clean_url: str, db, gx_root: Path
) -> None:
    """A 15m candle marked incomplete although all its minutes exist fails completeness."""
    bucket = DAY + timedelta(hours=2, minutes=15)
    db.execute(
        "update analytics.candles_15m set is_complete = false "
        "where symbol = 'BTCUSDT' and open_time = %s",
        (bucket,),
    )
    report = check(clean_url, gx_root)
    assert failed(report) == {("timeframe_completeness", "analytics.candles_15m")}


# The buckets the cross-timeframe checks used to write out, and the open time of the bucket
# holding Wednesday 2025-01-08 13:47 UTC (1w: Monday's).
OLD_BUCKETS = {
    "5m": ("5 minutes", 5, datetime(2025, 1, 8, 13, 45, tzinfo=UTC)),
    "15m": ("15 minutes", 15, datetime(2025, 1, 8, 13, 45, tzinfo=UTC)),
    "1h": ("1 hour", 60, datetime(2025, 1, 8, 13, tzinfo=UTC)),
    "4h": ("4 hours", 240, datetime(2025, 1, 8, 12, tzinfo=UTC)),
    "1d": ("1 day", 1440, datetime(2025, 1, 8, tzinfo=UTC)),
    "1w": ("7 days", 10080, datetime(2025, 1, 6, tzinfo=UTC)),
}


def test_the_checks_buckets_come_from_the_timeframe_table(conn: psycopg.Connection) -> None:
    """Every stored timeframe above 1m gets its bucket, length and origin from
    include/platform/intervals.py: the same intervals, field for field, and the same bucket
    open times as the literals the checks held before."""
    assert set(HIGHER_TIMEFRAMES) == set(OLD_BUCKETS)
    for tf, (literal, minutes, opens) in OLD_BUCKETS.items():
        query = sql.SQL(
            "with {} select bucket::text, %s::interval::text, bucket_minutes, "
            "date_bin(bucket, timestamptz '2025-01-08 13:47:00+00', bucket_origin) from params"
        ).format(params_cte(WINDOW, tf))
        bucket, old, got_minutes, got_opens = conn.execute(query, (literal,)).fetchone()
        assert (bucket, got_minutes, got_opens) == (old, minutes, opens), tf


def test_cli_check_exit_status_and_summary(clean_url: str, db, gx_root: Path) -> None:
    """`check` exits 0 saying what it checked, and 1 naming the failed expectation and symbol."""
    runner = CliRunner()
    args = ["check", "--start", "2025-01-06", "--end", "2025-01-07", "--no-expect-live"]
    args += ["-s", "BTCUSDT", "-s", "ETHUSDT"]
    passed = runner.invoke(app, args)
    assert passed.exit_code == 0, passed.output
    assert passed.stdout.startswith("data quality passed:")
    assert "analytics.candles_1w" in passed.stdout
    assert "Data Docs: file://" in passed.stdout

    db.execute(
        "update market.klines_1m set low = -1 where symbol = 'BTCUSDT' "
        "and open_time = '2025-01-06 00:00+00'"
    )
    broken = runner.invoke(app, args)
    assert broken.exit_code == 1
    [headline] = [x for x in broken.stderr.splitlines() if x.startswith("data quality FAILED:")]
    assert "ohlc_invariants on market.klines_1m (BTCUSDT)" in headline


def test_cli_check_rejects_a_bad_window(clean_url: str, gx_root: Path) -> None:
    """A window that ends before it starts is a one-line error, not a traceback."""
    result = CliRunner().invoke(app, ["check", "--start", "2025-01-07", "--end", "2025-01-06"])
    assert result.exit_code == 1
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert errors
    assert errors[0].startswith("error: empty check window")


def test_run_window_prefers_params_then_interval_then_the_last_day() -> None:
    """A DAG run checks its params' range, else its data interval, else the 24 hours before it."""
    from include.quality import run_window

    after = datetime(2025, 1, 7, 0, 0, 30, tzinfo=UTC)
    assert run_window("2025-01-06", "2025-01-07", None, None, after) == WINDOW
    assert run_window(None, None, DAY, DAY + timedelta(days=1), after) == WINDOW
    assert run_window(None, None, None, None, after) == WINDOW
    assert run_window(None, None, after, after, after) == WINDOW
    # The market's minute, when the data shows one ahead of the host's, ends the last day.
    ahead = after + timedelta(minutes=40)
    expected = Window(WINDOW.start + timedelta(minutes=40), WINDOW.end + timedelta(minutes=40))
    assert run_window(None, None, None, None, after, market_minute=ahead) == expected
    assert run_window(None, None, None, None, after, market_minute=DAY) == WINDOW
    assert run_window("2025-01-06", "2025-01-07", None, None, after, market_minute=ahead) == WINDOW
