"""The data_quality DAG with dag.test(): real Airflow, real GX, real PostgreSQL built by dbt."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.support.paths import PROJECT_ROOT
from tests.support.quality import SYMBOLS

pytestmark = pytest.mark.slow

RUN_CONF = {
    "start": "2025-01-06T00:00:00Z",
    "end": "2025-01-07T00:00:00Z",
    "symbols": list(SYMBOLS),
    "expect_live": False,
}


def quality_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "data_quality.py"))
    return bag.dags["data_quality"]


def test_dag_passes_on_clean_data_and_builds_data_docs(
    airflow_home, clean_url: str, gx_root: Path
) -> None:
    """A data_quality run over clean data succeeds and leaves the Data Docs it logs."""
    run = quality_dag().test(run_conf=RUN_CONF)
    assert run.state == "success"
    assert (gx_root / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()


def test_dag_fails_on_a_defect(airflow_home, clean_url: str, gx_root: Path) -> None:
    """A data_quality run fails when one hour no longer equals its minutes."""
    with psycopg.connect(clean_url, autocommit=True) as conn:
        conn.execute(
            "update analytics.candles_1h set volume = volume + 1 "
            "where symbol = 'BTCUSDT' and open_time = '2025-01-06 12:00+00'"
        )
    run = quality_dag().test(run_conf=RUN_CONF)
    assert run.state == "failed"
