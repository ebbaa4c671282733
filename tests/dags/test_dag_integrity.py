"""Every DAG file parses, follows the house rules, and opens no connection at parse time."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from include.platform import db, pgserver
from tests.support.paths import PROJECT_ROOT

DAGS_DIR = PROJECT_ROOT / "dags"


def dag_files() -> list[Path]:
    return sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    """The DagBag of dags/, parsed while any database access raises."""
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a DAG file touched the database at parse time")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(psycopg, "connect", refuse)
        mp.setattr(psycopg.Connection, "connect", refuse)
        mp.setattr(psycopg.AsyncConnection, "connect", refuse)
        mp.setattr(db, "resolve_database_url", refuse)
        mp.setattr(pgserver, "start", refuse)
        return DagBag(dag_folder=str(DAGS_DIR))


def test_dags_folder_is_not_empty() -> None:
    """The platform ships DAGs for the Airflow UI to list."""
    assert dag_files()


def test_no_import_errors(dagbag) -> None:
    """Every DAG file imports cleanly without a database."""
    assert dagbag.import_errors == {}


def test_one_dag_per_file_named_after_it(dagbag) -> None:
    """Each file holds exactly one DAG whose dag_id is the file name."""
    by_file: dict[str, list[str]] = {}
    for dag_id, dag in dagbag.dags.items():
        by_file.setdefault(Path(dag.fileloc).stem, []).append(dag_id)
    assert by_file == {p.stem: [p.stem] for p in dag_files()}


def test_house_rules(dagbag) -> None:
    """Every DAG has tags, a docs page, retries with a delay, and an explicit catchup."""
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, dag_id
        assert dag.default_args.get("retries", 0) >= 1, dag_id
        assert dag.default_args.get("retry_delay") is not None, dag_id
        assert dag.start_date is not None, dag_id
        assert dag.start_date.tzinfo is not None, dag_id
