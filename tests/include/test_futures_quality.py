"""The data-quality checks over a futures market: the same expectations run over market_usdm and
analytics_usdm (market_coinm and analytics_coinm), report those tables by name with the rows
they compared, pass on the loaded history, and fail on a fault planted in the market's mart."""

from __future__ import annotations

from functools import partial

import psycopg
import pytest

from fakebinance.server import ThreadedFakeBinance
from include.history.backfill import backfill_rest
from include.platform.times import parse_utc
from include.quality import Window, run_checks
from include.timeframes import build_timeframes

pytestmark = pytest.mark.slow

START = parse_utc("2025-03-09")
END = parse_utc("2025-03-11")


@pytest.fixture(autouse=True)
def dbt_target(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt_target")))


@pytest.mark.parametrize(("market", "symbol"), [("usdm", "BTCUSDT"), ("coinm", "BTCUSD_PERP")])
def test_the_checks_run_over_the_futures_markets_tables(
    coinm_fake: ThreadedFakeBinance,
    database_url: str,
    conn: psycopg.Connection,
    tmp_path,
    market: str,
    symbol: str,
) -> None:
    backfill_rest(
        [symbol], START, END, rest_url=coinm_fake.url, market_name=market, series="klines"
    )
    build_timeframes(database_url, market=market)
    window = Window(START, END)
    # The market's checks, run again below in the same GX project.
    check = partial(
        run_checks,
        window=window,
        symbols=[symbol],
        expect_live=False,
        market=market,
        gx_root=tmp_path / "gx",
    )
    report = check()
    assert report.success, report.summary()
    tables = {r.table for r in report.results}
    assert f"market_{market}.klines_1m" in tables
    assert f"analytics_{market}.candles_1h" in tables
    assert not [t for t in tables if t.split(".")[0] in ("market", "analytics")]
    assert report.rows_checked[f"market_{market}.klines_1m"] == 2880
    assert report.rows_checked[f"analytics_{market}.candles_1h"] == 48
    # Spot's tables hold nothing of it, and its checks compare nothing.
    # In the same GX project, as the data_quality DAG runs every market of MARKETS in turn.
    spot = run_checks(
        window=window, symbols=["BTCUSDT"], expect_live=False, gx_root=tmp_path / "gx", keep_runs=1
    )
    assert spot.rows_checked.get("market.klines_1m", 0) == 0

    # A planted fault in the market's 1h mart: its volume no longer the sum of its quarters.
    conn.execute(
        f"update analytics_{market}.candles_1h set volume = volume + 1 "
        "where symbol = %s and open_time = %s",
        (symbol, parse_utc("2025-03-10T05:00")),
    )
    faulty = check(keep_runs=1)
    assert not faulty.success
    assert {r.table for r in faulty.failures} == {f"analytics_{market}.candles_1h"}
    # keep_runs counts each market's runs: the market's newest run did not remove spot's.
    stored = tmp_path / "gx" / "uncommitted" / "validations"
    suites = {path.relative_to(stored).parts[0] for path in stored.rglob("*.json")}
    assert {f"market_{market}_klines_1m", "market_klines_1m"} <= suites, suites
