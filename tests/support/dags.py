"""Loading one DAG for dag.test(), and testing one daily run of it."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.support.paths import PROJECT_ROOT


def load_dag(dag_id: str):
    """One DAG file parsed as the scheduler would, its tasks without retries."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / f"{dag_id}.py"))
    dag = bag.dags[dag_id]
    # dag.test() waits out retry delays; a test wants the first failure.
    for task in dag.tasks:
        task.retries = 0
    return dag


def run_day(dag_id: str, day: datetime):
    """dag.test() of ``dag_id``'s daily run for ``day``, asserted a success."""
    run = load_dag(dag_id).test(logical_date=day, run_after=day + timedelta(days=1))
    assert run.state == "success"
    return run
