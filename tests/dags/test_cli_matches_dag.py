"""One path from a DAG to its SQL: `python -m include.cli <job>` leaves the same rows as the DAG.

Each test runs a job twice on two fresh copies of the same database: once as the CLI command,
once the way the DAG's tasks call it (the plan with the DAG's default params, then every
mapped job in turn), and compares what each left in the tables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from include import jobs
from include.cli import app
from tests.include.history_support import NOW, running_fake
from tests.support.dags import load_dag
from tests.support.db import TEMPLATE_DB, create_database, database_numbers, spent
from tests.support.quality import SYMBOLS

pytestmark = pytest.mark.slow

# Timestamps a row gets from the wall clock (loaded_at, healed_at, ...) differ between two runs;
# every other column must be equal.
KLINES = (
    "select symbol, open_time, open, high, low, close, volume, quote_volume, trade_count, "
    "taker_buy_volume, taker_buy_quote_volume, source from market.klines_1m "
    "order by symbol, open_time"
)
GAPS = (
    "select symbol, gap_start, gap_end, reason, detected_by, healed_at is not null, healed_by "
    "from market.ingest_gaps order by symbol, gap_start"
)
IMPORTED = (
    "select file_name, kind, symbol, checksum, row_count, candle_count, source "
    "from market.imported_files order by file_name"
)
RECONCILED = (
    "select symbol, window_start, window_end, minutes_official, minutes_mismatched, "
    "minutes_repaired, minutes_unrepaired from market.reconciliations order by symbol"
)
MISMATCHES = (
    "select symbol, open_time, field, ours, official, repaired_at is not null "
    "from market.reconcile_mismatches order by symbol, open_time, field"
)
CANDLES = (
    "select symbol, open_time, open, high, low, close, volume, quote_volume, trade_count "
    "from analytics.candles_{tf} order by symbol, open_time"
)
START = NOW.replace(minute=0, second=0) - timedelta(hours=3)
END = START + timedelta(hours=2)


@pytest.fixture(scope="module")
def fake():
    """The fake exchange, serving REST and dumps."""
    with running_fake() as server:
        yield server


@pytest.fixture
def env(fake, pg_server, template_url: str, airflow_home, monkeypatch: pytest.MonkeyPatch):
    """The platform pointed at the fake exchange, as the offline demo runs."""
    monkeypatch.setenv("BINANCE_REST_URL", fake.url)
    monkeypatch.setenv("BINANCE_DATA_URL", fake.url)
    monkeypatch.setenv("SYMBOLS", "ETHUSDT PEPEUSDT")
    return pg_server


def defaults(dag_id: str) -> dict[str, object]:
    """The DAG's params as a run without conf gets them."""
    return dict(load_dag(dag_id).params.dump())


def cli(*args: str) -> str:
    """Run a command in-process; its stdout (a failure fails the test with the output)."""
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.stdout


def twice(
    server,
    monkeypatch: pytest.MonkeyPatch,
    prepare: Callable[[str], None],
    by_cli: Callable[[], object],
    by_dag: Callable[[], object],
    queries: list[str],
    template: str = TEMPLATE_DB,
) -> tuple[list[list[tuple]], list[list[tuple]]]:
    """The rows each way leaves, each run on its own fresh copy of template."""
    seen = []
    for way in (by_cli, by_dag):
        name = f"p{os.getpid()}_{next(database_numbers)}"
        url = create_database(server, name, template)
        monkeypatch.setenv("DATABASE_URL", url)
        prepare(url)
        way()
        with psycopg.connect(url) as conn:
            seen.append([conn.execute(q).fetchall() for q in queries])
        spent.append((server.url(), name))
    return seen[0], seen[1]


def nothing(url: str) -> None:
    """No data before the job."""


def test_backfill_rest(env, monkeypatch) -> None:
    """backfill-rest and binance_backfill_rest's plan + load load the same klines."""
    params = defaults("binance_backfill_rest")

    def by_cli() -> None:
        cli("backfill-rest", "--start", START.isoformat(), "--end", END.isoformat())

    def by_dag() -> None:
        plan = jobs.plan_rest_chunks(
            params["symbols"], START.isoformat(), END.isoformat(), chunk_days=params["chunk_days"]
        )
        for job in plan:
            jobs.run_rest_chunk(job)

    ours, theirs = twice(env, monkeypatch, nothing, by_cli, by_dag, [KLINES])
    assert len(ours[0]) == 2 * 120
    assert ours == theirs


def test_import_dumps(env, monkeypatch) -> None:
    """import-dumps and binance_import_dumps' list_files + import_files import the same files."""
    params = defaults("binance_import_dumps")
    day = (NOW - timedelta(days=2)).date()
    first, last = day.isoformat(), (day + timedelta(days=1)).isoformat()

    def by_cli() -> None:
        cli("import-dumps", "--start", first, "--end", last)

    def by_dag() -> None:
        batches = jobs.plan_dump_files(
            params["symbols"], params["kinds"], first, last, folder=params["folder"]
        )
        for specs in batches:
            jobs.run_dump_files(specs)

    ours, theirs = twice(env, monkeypatch, nothing, by_cli, by_dag, [KLINES, IMPORTED])
    assert len(ours[1]) == 2
    assert ours == theirs


def test_heal_gaps(env, monkeypatch) -> None:
    """heal-gaps and binance_heal_gaps' heal fill the same hole and record it alike."""
    params = defaults("binance_heal_gaps")

    def hole(url: str) -> None:
        jobs.run_rest_chunk(
            {"symbols": ["ETHUSDT"], "start": START.isoformat(), "end": END.isoformat()}
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "delete from market.klines_1m where open_time >= %s and open_time < %s",
                (START + timedelta(minutes=10), START + timedelta(minutes=20)),
            )

    def by_cli() -> None:
        cli("heal-gaps")

    def by_dag() -> None:
        jobs.run_heal(params["symbols"], max_minutes=params["max_minutes"], full=params["full"])

    ours, theirs = twice(env, monkeypatch, hole, by_cli, by_dag, [KLINES, GAPS])
    assert len([r for r in ours[0] if r[0] == "ETHUSDT"]) >= 120
    assert ours == theirs


def test_reconcile(env, monkeypatch) -> None:
    """reconcile and the reconcile DAG's plan + compare_and_repair (then build_timeframes, which
    its Asset triggers) repair and record the same minute."""
    params = defaults("reconcile")

    def wrong_minute(url: str) -> None:
        jobs.run_rest_chunk(
            {"symbols": ["ETHUSDT"], "start": START.isoformat(), "end": END.isoformat()}
        )
        jobs.build_timeframes()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "update market.klines_1m set taker_buy_volume = 0, loaded_at = now() "
                "where open_time = %s",
                (START + timedelta(minutes=7),),
            )
        jobs.build_timeframes()

    def by_cli() -> None:
        cli("reconcile", "--start", START.isoformat(), "--end", END.isoformat())

    def by_dag() -> None:
        for job in jobs.plan_reconcile(params["symbols"], START.isoformat(), END.isoformat()):
            jobs.run_reconcile(job)
        jobs.build_timeframes()

    queries = [KLINES, RECONCILED, MISMATCHES, CANDLES.format(tf="1m")]
    ours, theirs = twice(env, monkeypatch, wrong_minute, by_cli, by_dag, queries)
    assert [r[2] for r in ours[2] if r[0] == "ETHUSDT"] == ["taker_buy_volume"]
    assert ours == theirs


def test_build_timeframes(env, monkeypatch) -> None:
    """build-timeframes and build_timeframes' dbt_build build the same candles."""

    def history(url: str) -> None:
        jobs.run_rest_chunk(
            {"symbols": ["ETHUSDT"], "start": START.isoformat(), "end": END.isoformat()}
        )

    queries = [CANDLES.format(tf=tf) for tf in ("1m", "5m", "1h")]
    ours, theirs = twice(
        env, monkeypatch, history, lambda: cli("build-timeframes"), jobs.build_timeframes, queries
    )
    assert len(ours[0]) == 120
    assert ours == theirs


def test_data_quality(pg_server, clean_template: str, gx_root, monkeypatch) -> None:
    """check and data_quality's check task report the same expectations on the same rows."""
    window = ["--start", "2025-01-06T00:00:00Z", "--end", "2025-01-07T00:00:00Z"]
    reports: list[str] = []

    def by_cli() -> None:
        reports.append(cli("check", *window, "-s", "BTCUSDT", "-s", "ETHUSDT", "--no-expect-live"))

    def by_dag() -> None:
        done = jobs.data_quality(window[1], window[3], list(SYMBOLS), False, run_after=NOW)
        reports.append(done["summary"] + "\n")

    twice(pg_server, monkeypatch, nothing, by_cli, by_dag, [], template=clean_template)
    # The same report but for its duration and its Data Docs run page.
    same = [re.sub(r"\d+\.\d s\)|file://\S+", "", r) for r in reports]
    assert same[0].startswith("data quality passed:")
    assert same[0] == same[1]
