"""The build_timeframes DAG end to end with dag.test(): real Airflow, real dbt, real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.dbt import kline_values, load_klines, write_live
from tests.support.dbt_fixtures import dbt_target_path, market, window_klines
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow


# The dbt tests' market, official klines and temporary dbt target (tests/support/dbt_fixtures.py).
__all__ = ["dbt_target_path", "market", "window_klines"]


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
    # Its rebuild_indexes task packed the marts' months that are over (December 2024's), as
    # dbt_builder, and left this month's, still written.
    rebuilt = {row[0] for row in conn.execute("select relation from market.partition_rebuilds")}
    assert "analytics.candles_5m_p2024_12" in rebuilt
    assert not [name for name in rebuilt if name.endswith(f"{now:%Y_%m}")]
