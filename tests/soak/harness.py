"""The soak's machinery: the real processes (PostgreSQL, Airflow, streamer, fake) and clients."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from include.platform import executor, pgserver
from include.platform.db import ROLES, role_variables
from include.platform.migrate import migrate
from include.platform.settings import Settings
from include.platform.times import CANDLE_FIELDS, MINUTE_MS
from tests.support.paths import PROJECT_ROOT

logger = logging.getLogger(__name__)

VENV_BIN = Path(sys.executable).parent
KLINE_FIELDS = CANDLE_FIELDS
# Index of each field in a REST kline array.
KLINE_INDEX = {
    "open": 1,
    "high": 2,
    "low": 3,
    "close": 4,
    "volume": 5,
    "quote_volume": 7,
    "trade_count": 8,
    "taker_buy_volume": 9,
    "taker_buy_quote_volume": 10,
}
INTERVAL_MS = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
    "1w": 10080 * MINUTE_MS,
}
# 1970-01-05 was a Monday: Binance's weeks start there, the other intervals at the epoch.
WEEK_ORIGIN_MS = 4 * 1440 * MINUTE_MS
# The product and the test share 127.0.0.1's REST weight budget only where a fault wants it
# (the 429 storm); the test's own reads come from another loopback address.
TEST_SOURCE_IP = "127.0.0.3"


def utc_ms(dt: datetime) -> int:
    """Aware datetime -> epoch ms."""
    return int(dt.timestamp() * 1000)


def ms_utc(ms: int) -> datetime:
    """Epoch ms -> aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def bucket_start(interval: str, ms: int) -> int:
    """Start of the Binance bucket of `interval` holding the instant `ms`."""
    size = INTERVAL_MS[interval]
    origin = WEEK_ORIGIN_MS if interval == "1w" else 0
    return ms - (ms - origin) % size


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nobody listens on host:port (a bind succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception as exc:  # a server restarting, a socket not bound yet
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last_error!r})")


# --------------------------------------------------------------------------- what happened
def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class Fault:
    """An injected fault and the wall-clock window in which runs may fail because of it."""

    name: str
    start: datetime
    end: datetime | None = None
    dags: frozenset[str] = frozenset()
    detail: str = ""


@dataclass
class Soak:
    """What happened: times, faults, the runs the soak triggered."""

    wall_start: float
    market_start: datetime
    history_start: datetime
    faults: list[Fault] = field(default_factory=list)
    triggered: list[tuple[str, str]] = field(default_factory=list)
    first_build_end: datetime | None = None
    freeze: datetime | None = None
    notes: list[str] = field(default_factory=list)
    # The halt's [first, end) market minutes (epoch ms), and the dump injections' state.
    halt: tuple[int, int] = (0, 0)
    dumps: dict[str, Any] = field(default_factory=dict)
    storm: dict[str, Any] = field(default_factory=dict)
    delisted: str = ""
    # The data_quality runs over faults planted on purpose (tests/soak/planted.py): they fail.
    planted_runs: set[str] = field(default_factory=set)
    # The market times (epoch ms) of the streamer's SIGKILL and of its restart.
    sigkill: tuple[int, int] = (0, 0)

    def note(self, text: str) -> None:
        elapsed = time.monotonic() - self.wall_start
        line = f"[{elapsed:7.1f} s] {text}"
        self.notes.append(line)
        print(line, flush=True)


# --------------------------------------------------------------------------- processes
@dataclass
class Proc:
    """A started subprocess, leader of its own process group."""

    name: str
    popen: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def group_alive(self) -> bool:
        """Any process of its group still running (leader or children it left behind)."""
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


class Processes:
    """Every subprocess the soak starts, so that teardown can prove none is left."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.all: list[Proc] = []
        self.current: dict[str, Proc] = {}
        self.argv: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.lock = threading.RLock()
        self.restarts: list[tuple[datetime, str, int | None]] = []
        self._supervised: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def supervise(self, names: set[str], interval: float = 1.0) -> None:
        """Restart these parts whenever they exit, as docker-compose's `restart: unless-stopped`
        does for them (scripts/run.sh's `airflow standalone` does not)."""
        self._supervised = set(names)

        def loop() -> None:
            while not self._stop.wait(interval):
                with self.lock:
                    for name in sorted(self._supervised):
                        proc = self.current.get(name)
                        if proc is None or proc.alive():
                            continue
                        code = proc.popen.poll()
                        logger.warning("%s exited with %s: restarting it", name, code)
                        stop_proc(proc, signal.SIGKILL, 10)
                        self.restarts.append((datetime.now(UTC), name, code))
                        self.start(name, *self.argv[name])

        self._thread = threading.Thread(target=loop, name="soak-supervisor", daemon=True)
        self._thread.start()

    def unsupervise(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        """Start argv in a new session (its own group), output to <log_dir>/<name>.log."""
        with self.lock:
            return self._start(name, argv, env)

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        self.argv[name] = (argv, env)
        index = sum(1 for p in self.all if p.name == name)
        log = self.log_dir / (f"{name}.log" if index == 0 else f"{name}.{index}.log")
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.all.append(proc)
        self.current[name] = proc
        logger.info("started %s (pid %s)", name, popen.pid)
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 40) -> int | None:
        """Signal the group, wait for the leader, then make sure the whole group is gone."""
        with self.lock:
            proc = self.current.pop(name, None)
        if proc is None:
            return None
        return stop_proc(proc, sig, timeout)

    def stop_all(self) -> None:
        """Newest first, as run.sh does."""
        self.unsupervise()
        for name in reversed(list(self.current)):
            with contextlib.suppress(Exception):
                self.stop(name)
        for proc in self.all:
            stop_proc(proc, signal.SIGKILL, 10)

    def leftovers(self) -> list[str]:
        """Processes (or groups) of the soak still running."""
        return [f"{p.name} (pid {p.pid})" for p in self.all if p.alive() or p.group_alive()]


def stop_proc(proc: Proc, sig: int, timeout: float) -> int | None:
    """Stop one process group: `sig` first, SIGKILL when it does not go in time; reap."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        code = proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning("%s did not stop on signal %s in %.0f s: SIGKILL", proc.name, sig, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.popen.wait(10)
    # Children the leader left behind (task runners, uvicorn workers) go with the group.
    deadline = time.monotonic() + 15
    while proc.group_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    if proc.group_alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while proc.group_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
    return code


# --------------------------------------------------------------------------- PostgreSQL
@dataclass
class Database:
    """The soak's own embedded PostgreSQL: platform data in `binance`, Airflow in `airflow`."""

    pgdata: Path
    port: int

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str = "binance") -> str:
        # Over TCP the superuser needs its password, generated beside the data directory.
        password = pgserver.superuser_password(self.pgdata)
        return f"postgresql://{pgserver.SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        pgserver.start(self.pgdata, self.port)

    def stop(self) -> None:
        pgserver.stop(self.pgdata)

    def remove(self, keep_log: Path) -> None:
        """Stop the server, keep its log (as ``keep_log``) and delete its directory."""
        with contextlib.suppress(Exception):
            pgserver.stop(self.pgdata, mode="immediate")
        with contextlib.suppress(OSError):
            shutil.copyfile(self.pgdata / "server.log", keep_log)
        shutil.rmtree(self.pgdata.parent, ignore_errors=True)

    def create(self, *names: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))

    def query(self, query: Any, params: Any = None, database: str = "binance") -> list[tuple]:
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()


def new_database() -> Database:
    """A fresh embedded PostgreSQL's place, outside pytest's temporary directories (as the test
    session's own server, tests/conftest.py): run as root, the server runs as another user, and
    every pytest session that starts meanwhile makes its temporary root private (0700) again,
    which cut a server inside it off from its own data directory at its next checkpoint (a
    PANIC, the platform down for good; seen in the soak while others ran tests)."""
    return Database(Path(tempfile.mkdtemp(prefix="soak-pg-")) / "pg", pgserver.free_port())


def start_database(root: Path) -> Database:
    """Start a fresh embedded PostgreSQL and migrate the platform's database."""
    db = new_database()
    db.start()
    db.create("binance", "airflow")
    # As on a first `make run`: the roles' passwords are generated into the soak's DATA_DIR,
    # where its processes look for them (the test session's password variables stay out).
    variables = {name for role in ROLES for name in role_variables(role)}
    saved = {name: os.environ.pop(name) for name in variables if name in os.environ}
    try:
        migrate(db.url("binance"), settings=Settings(data_dir=root / "data"))
    finally:
        os.environ.update(saved)
    return db


# --------------------------------------------------------------------------- fake exchange
class FakeClient:
    """The running `python -m fakebinance`: clock, faults, and klines read from the test's IP."""

    def __init__(self, url: str) -> None:
        self.url = url
        transport = httpx.HTTPTransport(local_address=TEST_SOURCE_IP, retries=2)
        self.http = httpx.Client(base_url=url, transport=transport, timeout=60)

    def close(self) -> None:
        self.http.close()

    def clock(self) -> dict[str, Any]:
        response = self.http.get("/fake/clock")
        response.raise_for_status()
        return response.json()

    def now_ms(self) -> int:
        return int(self.clock()["now_ms"])

    def set_clock(self, to: datetime | None = None, speed: float | None = None) -> dict:
        params: dict[str, str] = {}
        if to is not None:
            params["to"] = to.isoformat()
        if speed is not None:
            params["speed"] = str(speed)
        response = self.http.post("/fake/clock", params=params)
        response.raise_for_status()
        return response.json()

    def fault(self, name: str, **params: object) -> dict[str, Any]:
        response = self.http.post(
            f"/fake/faults/{name}", params={k: str(v) for k, v in params.items()}
        )
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        response = self.http.get("/fake/stats")
        response.raise_for_status()
        return response.json()

    def exchange_info(self) -> dict[str, Any]:
        response = self.http.get("/api/v3/exchangeInfo")
        response.raise_for_status()
        return response.json()

    def klines(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[list]:
        """Every kline of `interval` opening in [start_ms, end_ms), paged by 1000."""
        out: list[list] = []
        cursor = start_ms
        while cursor < end_ms:
            response = self.http.get(
                "/api/v3/klines",
                params={
                    "symbol": symbol,
                    "interval": interval,
                    "startTime": cursor,
                    "endTime": end_ms - 1,
                    "limit": 1000,
                },
            )
            response.raise_for_status()
            rows = [r for r in response.json() if int(r[0]) < end_ms]
            out.extend(rows)
            if len(response.json()) < 1000 or not rows:
                break
            cursor = int(rows[-1][0]) + INTERVAL_MS[interval]
        return out


# --------------------------------------------------------------------------- Airflow
@dataclass(frozen=True)
class DagRun:
    """One row of Airflow's dag_run table, as the soak reads it."""

    dag_id: str
    run_id: str
    state: str
    run_type: str
    start: datetime | None
    end: datetime | None
    conf: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        return self.state in ("success", "failed")


class AirflowClient:
    """Trigger runs through the REST API; read their states from the metadata database."""

    def __init__(self, api_url: str, db: Database) -> None:
        self.api_url = api_url
        self.db = db
        self.http = httpx.Client(base_url=api_url, timeout=60)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def token(self) -> str:
        if self._token is None:
            response = self.http.get("/auth/token")
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """A manual run now with `conf` (params); returns its run_id."""

        def post() -> str | None:
            response = self.http.post(
                f"/api/v2/dags/{dag_id}/dagRuns",
                headers={"Authorization": f"Bearer {self.token()}"},
                json={"logical_date": None, "conf": conf or {}},
            )
            if response.status_code == 401:
                self._token = None
            response.raise_for_status()
            return response.json()["dag_run_id"]

        run_id = wait_for(f"trigger {dag_id}", post, timeout=120, interval=2)
        logger.info("triggered %s %s conf=%s", dag_id, run_id, conf)
        return run_id

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause a DAG, as the UI's switch does."""
        response = self.http.patch(
            f"/api/v2/dags/{dag_id}",
            headers={"Authorization": f"Bearer {self.token()}"},
            json={"is_paused": paused},
        )
        response.raise_for_status()

    def tasks_in_flight(self, dag_id: str, task_id: str) -> int:
        """Task instances of the DAG's task scheduled, queued or running."""
        [(count,)] = self.db.query(
            "select count(*) from task_instance where dag_id = %s and task_id = %s "
            "and state in ('scheduled', 'queued', 'running', 'up_for_retry', 'restarting')",
            (dag_id, task_id),
            database="airflow",
        )
        return int(count)

    def runs(self, dag_id: str | None = None) -> list[DagRun]:
        rows = self.db.query(
            "select dag_id, run_id, state, run_type, start_date, end_date, conf "
            "from dag_run where %(dag)s::text is null or dag_id = %(dag)s "
            "order by coalesce(start_date, queued_at), id",
            {"dag": dag_id},
            database="airflow",
        )
        return [DagRun(*r[:6], _conf(r[6])) for r in rows]

    def run(self, dag_id: str, run_id: str) -> DagRun | None:
        found = [r for r in self.runs(dag_id) if r.run_id == run_id]
        return found[0] if found else None

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> DagRun:
        def done() -> DagRun | None:
            run = self.run(dag_id, run_id)
            return run if run is not None and run.finished else None

        return wait_for(f"{dag_id} {run_id} to finish", done, timeout, interval=2)

    def active(self, dag_id: str | None = None) -> list[DagRun]:
        return [r for r in self.runs(dag_id) if not r.finished]

    def failed_tasks(self, dag_id: str, run_id: str) -> list[tuple[str, int, str]]:
        return self.db.query(
            "select task_id, map_index, state from task_instance "
            "where dag_id = %s and run_id = %s and state not in ('success', 'skipped') "
            "order by task_id, map_index",
            (dag_id, run_id),
            database="airflow",
        )

    def task_runs(self, dag_id: str, task_id: str) -> list[tuple[str, str, datetime, datetime]]:
        """(run_id, state, start, end) of one task's instances, oldest first."""
        return self.db.query(
            "select run_id, state, start_date, end_date from task_instance "
            "where dag_id = %s and task_id = %s and start_date is not null order by start_date",
            (dag_id, task_id),
            database="airflow",
        )

    def task_times(self) -> list[tuple[str, str, int, float, float, float]]:
        """Per DAG and task: instances run, median and longest run seconds, longest wait in
        the queue (queued to started), so a slow phase says which task it waited on."""
        return self.db.query(
            "select dag_id, task_id, count(*), "
            "round(percentile_cont(0.5) within group (order by duration)::numeric, 1), "
            "round(max(duration)::numeric, 1), "
            "round(coalesce(max(extract(epoch from start_date - queued_dttm)), 0)::numeric, 1) "
            "from task_instance where start_date is not null and end_date is not null "
            "group by dag_id, task_id order by dag_id, task_id",
            database="airflow",
        )

    def returned(self, dag_id: str, task_id: str) -> dict[str, Any]:
        """run_id -> what one task returned (its return_value XCom), for the runs that did."""
        rows = self.db.query(
            "select run_id, value from xcom "
            "where dag_id = %s and task_id = %s and key = 'return_value'",
            (dag_id, task_id),
            database="airflow",
        )
        # Airflow 3 keeps XCom values as JSON; older layouts hold a JSON text inside it.
        return {run_id: json.loads(v) if isinstance(v, str) else v for run_id, v in rows}

    def dags(self) -> dict[str, bool]:
        """dag_id -> is_paused, for the DAGs the processor has serialized."""
        rows = self.db.query(
            "select dag.dag_id, dag.is_paused from dag join serialized_dag using (dag_id) "
            "where not dag.is_stale",
            database="airflow",
        )
        return dict(rows)


def _conf(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, bytes | memoryview):
        value = bytes(value)
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            return json.loads(value)
        return {"raw": repr(value[:80])}
    with contextlib.suppress(ValueError, TypeError):
        return json.loads(value)
    return {"raw": str(value)[:80]}


# --------------------------------------------------------------------------- the platform
@dataclass
class Ports:
    fake: int
    api: int
    worker_logs: int
    trigger_logs: int
    streamer_health: int

    @classmethod
    def pick(cls) -> Ports:
        picked: set[int] = set()
        values = []
        while len(values) < 5:
            port = pgserver.free_port()
            if port not in picked and port not in (8793, 8794, 8080, 8795):
                picked.add(port)
                values.append(port)
        return cls(*values)

    def all(self) -> list[int]:
        return [self.fake, self.api, self.worker_logs, self.trigger_logs, self.streamer_health]


@dataclass
class Platform:
    """Every part of the soak and where it lives."""

    root: Path
    db: Database
    ports: Ports
    procs: Processes
    env: dict[str, str]
    fake: FakeClient
    airflow: AirflowClient | None

    def streamer_running(self) -> bool:
        proc = self.procs.current.get("streamer")
        return proc is not None and proc.alive()

    def start_streamer(self) -> Proc:
        return self.procs.start("streamer", [sys.executable, "-m", "streamer"], self.env)

    def start_airflow(self) -> AirflowClient:
        self.airflow = start_airflow(self.procs, self.env, self.db, self.ports.api)
        return self.airflow

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`python -m include.cli ...` with the platform's environment, as run.sh calls it."""
        return subprocess.run(
            [sys.executable, "-m", "include.cli", *args],
            env=self.env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def base_env(root: Path, db: Database, ports: Ports, fake_url: str) -> dict[str, str]:
    """The environment every part gets: the platform's variables and Airflow's settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        # The pytest process's own Airflow and database settings are not the soak's.
        if not k.startswith(("AIRFLOW", "STREAMER_", "BINANCE_", "DBT_", "PYTEST"))
        and k not in ("DATABASE_URL", "SYMBOLS", "DATA_DIR")
        # The roles' passwords too: the soak's own migrate generates them into its DATA_DIR.
        and k not in {name for role in ROLES for name in role_variables(role)}
    }
    airflow_home = root / "airflow"
    airflow_home.mkdir(exist_ok=True)
    data_dir = root / "data"
    data_dir.mkdir(exist_ok=True)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(PROJECT_ROOT),
        PYTHONUNBUFFERED="1",
        ENV_FILE=os.devnull,
        DATA_DIR=str(data_dir),
        DATABASE_URL=db.url("binance"),
        SYMBOLS="ALL",
        BINANCE_WS_URL=fake_url,
        BINANCE_REST_URL=fake_url,
        BINANCE_DATA_URL=fake_url,
        DBT_PROFILES_DIR=str(PROJECT_ROOT / "dbt_project"),
        DBT_TARGET_PATH=str(root / "dbt_target"),
        # The streamer's knobs that mean market time are scaled to the accelerated clock;
        # the rest stay as shipped.
        STREAMER_HEALTH_PORT=str(ports.streamer_health),
        STREAMER_SYMBOLS_REFRESH="2",
        STREAMER_LOG_LEVEL="INFO",
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=db.url("airflow").replace(
            "postgresql:", "postgresql+psycopg2:", 1
        ),
        # As scripts/env.sh sets it: LocalExecutor, with a shutdown that cannot hang.
        AIRFLOW__CORE__EXECUTOR=executor.NAME,
        AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT_ROOT / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{ports.api}/execution/",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(ports.api),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{ports.api}",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(ports.worker_logs),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(ports.trigger_logs),
        AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30",
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
    )
    return env


def start_fake(
    procs: Processes,
    env: dict[str, str],
    port: int,
    start: datetime,
    symbols: str,
    extra: list[str],
) -> FakeClient:
    """`python -m fakebinance` with its market clock frozen at `start` (speed 0)."""
    procs.start(
        "fakebinance",
        [
            sys.executable,
            "-m",
            "fakebinance",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--symbols",
            symbols,
            "--seed",
            "42",
            "--speed",
            "0",
            "--start",
            start.isoformat(),
            *extra,
        ],
        env,
    )
    fake = FakeClient(f"http://127.0.0.1:{port}")
    wait_for("the fake exchange", lambda: fake.clock()["now_ms"], timeout=60)
    return fake


def migrate_airflow(env: dict[str, str]) -> None:
    """`airflow db migrate` on the soak's metadata database, then the binance_rest pool, as
    scripts/run.sh and compose's airflow-init do (a task in a missing pool is never scheduled)."""
    pools = Path(env["AIRFLOW_HOME"]) / "pools.json"
    for argv in (
        ["airflow", "db", "migrate"],
        [sys.executable, "-m", "include.cli", "airflow-pools", str(pools)],
        ["airflow", "pools", "import", str(pools)],
    ):
        done = subprocess.run(
            argv, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{argv}: " + done.stdout[-3000:] + done.stderr[-3000:]


def start_airflow(
    procs: Processes, env: dict[str, str], db: Database, api_port: int
) -> AirflowClient:
    """Start the api-server, then the scheduler and dag-processor, all supervised."""
    # Airflow 3's LocalExecutor runs tasks through the Execution API: the api-server is a part,
    # and up before the scheduler hands out work (a task started earlier fails to start).
    procs.start("api-server", ["airflow", "api-server", "--port", str(api_port)], env)
    client = AirflowClient(f"http://127.0.0.1:{api_port}", db)
    wait_for("the Airflow API", lambda: client.token(), timeout=240, interval=2)
    procs.start("scheduler", ["airflow", "scheduler"], env)
    procs.start("dag-processor", ["airflow", "dag-processor"], env)
    procs.supervise({"api-server", "scheduler", "dag-processor"})
    return client


@dataclass
class Base:
    """What every soak-style test starts from: PostgreSQL with Airflow's database migrated, the
    ports, the environment, and the processes it starts."""

    root: Path
    db: Database
    ports: Ports
    procs: Processes
    env: dict[str, str]


@contextlib.contextmanager
def base(root: Path) -> Iterator[Base]:
    """PostgreSQL up and Airflow's database migrated, the environment pointing the exchange at
    ports.fake (started or not). Every process started under it is stopped on the way out, newest
    first, and the database last."""
    root.mkdir(parents=True, exist_ok=True)
    log_dir = root / "logs"
    log_dir.mkdir(exist_ok=True)
    procs = Processes(log_dir)
    db = start_database(root)
    try:
        ports = Ports.pick()
        env = base_env(root, db, ports, f"http://127.0.0.1:{ports.fake}")
        migrate_airflow(env)
        yield Base(root, db, ports, procs, env)
    finally:
        procs.stop_all()
        db.remove(keep_log=log_dir / "postgresql.log")


@contextlib.contextmanager
def platform(
    root: Path, market_start: datetime, symbols: str, fake_args: list[str]
) -> Iterator[Platform]:
    """The base and the fake exchange frozen at market_start; the caller starts the streamer and
    Airflow. Everything is stopped on the way out."""
    with base(root) as b:
        fake = start_fake(b.procs, b.env, b.ports.fake, market_start, symbols, fake_args)
        p = Platform(b.root, b.db, b.ports, b.procs, b.env, fake, None)
        try:
            yield p
        finally:
            # The clients first; the base then stops Airflow's parts, the streamer and the fake.
            p.fake.close()
            if p.airflow is not None:
                p.airflow.close()


def decimal_fields(values: dict[str, Any]) -> dict[str, Decimal]:
    """Kline fields as exact Decimals (trade_count too), for equality."""
    return {k: Decimal(str(values[k])) for k in KLINE_FIELDS}


def rest_fields(row: list) -> dict[str, Decimal]:
    return {k: Decimal(str(row[i])) for k, i in KLINE_INDEX.items()}


def aggregate(rows: list[dict[str, Decimal]]) -> dict[str, Decimal]:
    """Binance's rule for a higher kline from its 1m klines, in time order."""
    out = {
        "open": rows[0]["open"],
        "high": max(r["high"] for r in rows),
        "low": min(r["low"] for r in rows),
        "close": rows[-1]["close"],
    }
    for name in KLINE_FIELDS[4:]:
        out[name] = sum((r[name] for r in rows), Decimal(0))
    return out


def minutes(start_ms: int, end_ms: int) -> range:
    return range(start_ms, end_ms, MINUTE_MS)


def floor_minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


def span(a: timedelta) -> str:
    total = int(a.total_seconds())
    return f"{total // 3600}h{total % 3600 // 60:02d}m{total % 60:02d}s"
