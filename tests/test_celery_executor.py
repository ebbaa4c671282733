"""Airflow on the CeleryExecutor: a Redis broker, two workers, this repo's DAGs end to end."""

from __future__ import annotations

import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from psycopg import sql

from include.platform import pgserver
from tests.soak.harness import (
    KLINE_FIELDS,
    Platform,
    Proc,
    decimal_fields,
    floor_minute,
    ms_utc,
    now_utc,
    platform,
    rest_fields,
    utc_ms,
    wait_for,
)
from tests.support.setup_tools import require

SYMBOLS = ["BTCUSDT", "ETHUSDT", "PEPEUSDT"]
WORKERS = ("celery-worker-1", "celery-worker-2")
HOURS = 3


@pytest.fixture(autouse=True)
def redis_installed() -> None:
    """Set-up installs Debian's redis-server: missing, the set-up is broken (or has no apt)."""
    require("redis-server", shutil.which("redis-server") is not None, "the CeleryExecutor test")


def start_redis(p: Platform) -> str:
    """Debian's redis-server on a free loopback port, nothing persisted; returns its URL."""
    port = pgserver.free_port()
    workdir = p.root / "redis"
    workdir.mkdir()
    # ("--save", "") turns RDB snapshots off; no AOF either: a broker for one test's lifetime.
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir), "--protected-mode", "yes"]
    p.procs.start("redis", argv, p.env)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2)
    try:
        wait_for("redis", client.ping, timeout=30, interval=0.2)
    finally:
        client.close()
    return f"redis://127.0.0.1:{port}/0"


def use_celery(p: Platform, broker_url: str) -> None:
    """Switch every Airflow part the test starts to the CeleryExecutor."""
    p.env.update(
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__CELERY__BROKER_URL=broker_url,
        # Task results beside Airflow's metadata, in the same PostgreSQL.
        AIRFLOW__CELERY__RESULT_BACKEND=p.db.url("airflow").replace(
            "postgresql:", "db+postgresql:", 1
        ),
        # One task at a time per worker, so two tasks in flight need both workers.
        AIRFLOW__CELERY__WORKER_CONCURRENCY="1",
        # Only the runs the test triggers: no cron or Asset runs competing for two cores.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
    )


def start_worker(p: Platform, name: str) -> Proc:
    """`airflow celery worker` with a hostname, pid file and log-server port of its own."""
    env = dict(
        p.env,
        AIRFLOW_WORKER_NAME=name,
        AIRFLOW__CORE__HOSTNAME_CALLABLE="tests.worker_hostname.hostname",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(pgserver.free_port()),
    )
    argv = ["airflow", "celery", "worker", "--celery-hostname", name, "--concurrency", "1"]
    argv += ["--pid", str(p.root / f"{name}.pid")]
    return p.procs.start(name, argv, env)


def wait_worker_ready(proc: Proc, name: str) -> None:
    """Until Celery logs the worker ready; fails at once with its log if it exited."""

    def ready() -> bool:
        if not proc.alive():
            pytest.fail(f"{name} exited with {proc.popen.poll()}:\n{proc.tail()}")
        return f"celery@{name} ready." in proc.tail(20_000)

    wait_for(f"{name} to connect to the broker", ready, timeout=180, interval=1)


def run_dag(p: Platform, dag_id: str, conf: dict | None = None) -> str:
    """Trigger a run through the REST API and wait for it; returns its run_id when it succeeds."""
    assert p.airflow is not None
    run_id = p.airflow.trigger(dag_id, conf)
    run = p.airflow.wait_run(dag_id, run_id, timeout=300)
    assert run.state == "success", (
        f"{dag_id} {run_id}: {run.state}, tasks {p.airflow.failed_tasks(dag_id, run_id)}\n"
        + "\n".join(f"--- {proc.name}\n{proc.tail(2000)}" for proc in p.procs.current.values())
    )
    return run_id


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_celery_workers_run_backfill_and_build(tmp_path: Path) -> None:
    """On the CeleryExecutor with a Redis broker, binance_backfill_rest then build_timeframes
    succeed, both workers run task instances, and the rows loaded equal the fake's klines."""
    started = time.monotonic()
    end = floor_minute(now_utc()).replace(minute=0) - timedelta(hours=1)
    start = end - timedelta(hours=HOURS)
    with platform(tmp_path / "celery", end + timedelta(minutes=5), ",".join(SYMBOLS), []) as p:
        procs = p.procs
        use_celery(p, start_redis(p))
        # Workers first: the scheduler's first tasks are picked up as soon as it queues them.
        workers = [start_worker(p, name) for name in WORKERS]
        p.start_airflow()
        for proc, name in zip(workers, WORKERS, strict=True):
            wait_worker_ready(proc, name)
        assert p.airflow is not None
        wait_for(
            "the DAGs to be parsed",
            lambda: {"binance_backfill_rest", "build_timeframes"} <= set(p.airflow.dags()),
            timeout=240,
            interval=2,
        )

        backfill = run_dag(
            p,
            "binance_backfill_rest",
            {"symbols": SYMBOLS, "start": start.isoformat(), "end": end.isoformat()},
        )
        build = run_dag(p, "build_timeframes")

        ran = p.db.query(
            "select hostname, dag_id, task_id, map_index from task_instance "
            "where (dag_id, run_id) in ((%s, %s), (%s, %s)) and state = 'success' "
            "order by hostname, dag_id, task_id, map_index",
            ("binance_backfill_rest", backfill, "build_timeframes", build),
            database="airflow",
        )
        by_worker: dict[str, list[str]] = {}
        for hostname, dag_id, task_id, map_index in ran:
            by_worker.setdefault(hostname, []).append(f"{dag_id}.{task_id}[{map_index}]")
        assert set(by_worker) == set(WORKERS), by_worker
        loads = [t for ts in by_worker.values() for t in ts if ".load[" in t]
        assert len(loads) == len(SYMBOLS), by_worker

        start_ms, end_ms = utc_ms(start), utc_ms(end)
        columns = sql.SQL(", ").join(map(sql.Identifier, KLINE_FIELDS))
        for symbol in SYMBOLS:
            official = {
                int(row[0]): rest_fields(row)
                for row in p.fake.klines(symbol, "1m", start_ms, end_ms)
            }
            assert len(official) == HOURS * 60, symbol
            for schema, table in (("market", "klines_1m"), ("analytics", "candles_1m")):
                rows = p.db.query(
                    sql.SQL(
                        "select open_time, {} from {} where symbol = %s "
                        "and open_time >= %s and open_time < %s order by open_time"
                    ).format(columns, sql.Identifier(schema, table)),
                    (symbol, start, end),
                )
                loaded = {
                    utc_ms(row[0]): decimal_fields(dict(zip(KLINE_FIELDS, row[1:], strict=True)))
                    for row in rows
                }
                assert loaded == official, f"{schema}.{table} {symbol}"
            hours = {
                int(row[0]): rest_fields(row)
                for row in p.fake.klines(symbol, "1h", start_ms, end_ms)
            }
            rows = p.db.query(
                sql.SQL(
                    "select open_time, is_complete, {} from analytics.candles_1h where symbol = %s "
                    "and open_time >= %s and open_time < %s order by open_time"
                ).format(columns),
                (symbol, start, end),
            )
            assert all(row[1] for row in rows), symbol
            built = {
                utc_ms(row[0]): decimal_fields(dict(zip(KLINE_FIELDS, row[2:], strict=True)))
                for row in rows
            }
            assert built == hours, f"analytics.candles_1h {symbol}"
    assert procs.leftovers() == []
    print(
        f"celery: {len(ran)} task instances on {', '.join(sorted(by_worker))} "
        f"({', '.join(f'{h}: {len(t)}' for h, t in sorted(by_worker.items()))}); "
        f"{ms_utc(start_ms):%H:%M}..{ms_utc(end_ms):%H:%M} x {len(SYMBOLS)} symbols; "
        f"wall {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
