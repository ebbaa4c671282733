"""Every task that can call Binance REST runs in the binance_rest pool, and no other task does."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from include.platform import rest_pool
from tests.support.paths import PROJECT_ROOT

# How code reaches Binance REST: it builds a client, or calls one of the client's requests.
CLIENT = "BinanceRest"
REQUESTS = {"exchange_info", "klines_1m", "server_time_ms"}


def referenced(node: ast.AST) -> tuple[set[str], set[str]]:
    """The names and the attribute names a function body uses (not its annotations)."""
    body = node.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else [node]
    names: set[str] = set()
    attrs: set[str] = set()
    for statement in body:
        for sub in ast.walk(statement):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                attrs.add(sub.attr)
    return names, attrs


def include_functions() -> dict[str, list[tuple[set[str], set[str]]]]:
    """Every function of include/ by name, with what its body references."""
    found: dict[str, list[tuple[set[str], set[str]]]] = {}
    for path in sorted((PROJECT_ROOT / "include").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.setdefault(node.name, []).append(referenced(node))
    return found


def reaches_rest(names: set[str], attrs: set[str], rest: set[str]) -> bool:
    """Does code that references these names call REST, given the functions known to?"""
    used = names | attrs
    return CLIENT in names or bool(attrs & REQUESTS) or bool(used & rest)


@pytest.fixture(scope="module")
def rest_functions() -> set[str]:
    """Names of include's functions that reach Binance REST, directly or through others (a
    function that shares its name with one that does counts too: better one pool slot too many
    than a task outside the budget)."""
    functions = include_functions()
    rest: set[str] = set()
    while True:
        more = {
            name
            for name, bodies in functions.items()
            if name not in rest and any(reaches_rest(n, a, rest) for n, a in bodies)
        }
        if not more:
            return rest
        rest |= more


@pytest.fixture(scope="module")
def dags():
    """Every DAG of dags/, parsed."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags


def task_reaches_rest(task, rest: set[str]) -> bool:
    """Does this task's callable call, through include/, Binance REST?"""
    source = textwrap.dedent(inspect.getsource(task.python_callable))
    function = ast.parse(source).body[0]
    return reaches_rest(*referenced(function), rest)


def test_the_analysis_finds_the_known_rest_functions(rest_functions: set[str]) -> None:
    """The call analysis is sound on what is known: the jobs that fetch klines are found, the
    dbt build and the quality checks are not."""
    assert {"backfill_rest", "heal_gaps", "reconcile", "resolve_symbols", "import_file"} <= (
        rest_functions
    )
    assert {"build_timeframes", "run_checks", "trading_symbols"}.isdisjoint(rest_functions)


def test_every_rest_task_is_in_the_pool(dags, rest_functions: set[str]) -> None:
    """Backfill, import, heal and reconcile tasks (and the plans that resolve ALL from
    exchangeInfo) take binance_rest slots; build, quality and glue tasks do not."""
    in_pool: dict[str, set[str]] = {}
    for dag_id, dag in dags.items():
        for task in dag.tasks:
            if task_reaches_rest(task, rest_functions):
                assert task.pool == rest_pool.POOL, f"{dag_id}.{task.task_id} calls REST"
                assert 1 <= task.pool_slots <= rest_pool.pool_size(), (dag_id, task.task_id)
                in_pool.setdefault(dag_id, set()).add(task.task_id)
            else:
                assert task.pool != rest_pool.POOL, f"{dag_id}.{task.task_id} needs no REST"
    assert in_pool == {
        "binance_backfill_rest": {"plan", "load"},
        "binance_import_dumps": {"list_files", "import_files"},
        "binance_heal_gaps": {"heal"},
        "reconcile": {"plan", "compare_and_repair"},
    }


def test_slots_follow_each_task_in_flight_weight(dags) -> None:
    """A task takes the slots of its own in-flight weight: the klines pages it keeps in flight,
    or exchangeInfo alone."""
    slots = {(d, t.task_id): t.pool_slots for d, dag in dags.items() for t in dag.tasks}
    assert slots["binance_backfill_rest", "load"] == rest_pool.BACKFILL_SLOTS
    assert slots["binance_heal_gaps", "heal"] == rest_pool.HEAL_SLOTS
    assert slots["reconcile", "compare_and_repair"] == rest_pool.RECONCILE_SLOTS
    for key in [
        ("binance_backfill_rest", "plan"),
        ("binance_import_dumps", "list_files"),
        ("binance_import_dumps", "import_files"),
        ("reconcile", "plan"),
    ]:
        assert slots[key] == rest_pool.EXCHANGE_INFO_SLOTS, key


@pytest.mark.slow
def test_the_start_sequence_creates_the_pool(airflow_home: Path) -> None:
    """run.sh's and compose's two commands make the pool, at its size, in a fresh metadata
    database; running them again (every start) keeps one pool."""
    target = airflow_home / "pools.json"
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    for _ in range(2):
        for argv in (
            [sys.executable, "-m", "include.cli", "airflow-pools", str(target)],
            [sys.executable, "-m", "airflow", "pools", "import", str(target)],
        ):
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=300, env=env, cwd=PROJECT_ROOT
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with psycopg.connect(
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    ) as conn:
        rows = conn.execute(
            "select pool, slots, description from slot_pool where pool = %s", (rest_pool.POOL,)
        ).fetchall()
    assert rows == [(rest_pool.POOL, rest_pool.pool_size(), rest_pool.DESCRIPTION)]
