"""The build_timeframes DAG end to end with dag.test(): real Airflow, real dbt, real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fakebinance.market import Market
from fakebinance.reference import RefKline
from tests.support.dbt import frozen_market, kline_values, load_klines, window_official, write_live
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def market() -> Market:
    """The dbt tests' frozen fake market (held for the session: official() caches by its id)."""
    return frozen_market()


@pytest.fixture(scope="session")
def window_klines(market: Market) -> dict[str, list[RefKline]]:
    """The dbt tests' official 1m klines of every symbol over their two-week window."""
    return window_official(market)


@pytest.fixture(autouse=True)
def dbt_target_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """dbt's compiled files and logs go to a temporary directory, not dbt_project/target."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt_target")))


def test_dag_run_builds_marts_checks_freshness_and_publishes_docs(
    airflow_home,
    database_url,
    conn,
    window_klines,
    tmp_path,
    monkeypatch,
):
    """One DAG run fills analytics.candles_*, passes source freshness and writes the docs page."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"][:1440])
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    write_live(conn, "BTCUSDT", now, kline_values(window_klines["BTCUSDT"][0]), is_closed=False)
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "build_timeframes.py")).dags[
        "build_timeframes"
    ]
    # dag.test() waits out retry delays; a test wants the first failure.
    for task in dag.tasks:
        task.retries = 0

    run = dag.test()

    assert run.state == "success"
    assert conn.execute("select count(*) from analytics.candles_1d").fetchone() == (2,)
    assert (tmp_path / "dbt_docs" / "index.html").stat().st_size > 0
