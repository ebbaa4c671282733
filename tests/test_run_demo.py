"""`scripts/run.sh demo` as a new user runs it: green on its own, loopback only, supervised,
clean stop."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import stat
import struct
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
import psycopg
import pytest

from include.platform import db, pgserver
from include.platform.rest_pool import POOL, pool_size
from tests.browser import CHROMIUM, Browser, BrowserError
from tests.support.paths import PROJECT_ROOT
from tests.support.setup_tools import require

pytestmark = pytest.mark.slow

# From the Airflow UI's announcement: a green data_quality run within 5 minutes.
GREEN_WITHIN = 300
DAG_IDS = {
    "binance_backfill_rest",
    "binance_heal_gaps",
    "binance_import_dumps",
    "build_timeframes",
    "data_quality",
    "reconcile",
}
# Each DAG card's id and its latest run's state badge, as the Airflow 3 UI renders them.
DAG_STATES_JS = """(() => {
    const states = {}, badge = '[data-testid="state-badge"]';
    for (const link of document.querySelectorAll('a[href*="/dags/"]')) {
        const id = link.textContent.trim();
        if (!id || link.getAttribute("href").split("/").pop() !== id) continue;
        let card = link;
        while (card && !card.querySelector(badge)) card = card.parentElement;
        states[id] = card ? card.querySelector(badge).getAttribute("aria-label") : null;
    }
    return states;
})()"""


def tree(pid: int) -> list[psutil.Process]:
    """run.sh and every process below it (each child runs in its own session)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6 (::ffff:127.0.0.1)."""
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def non_loopback_listeners(pids: set[int]) -> list[str]:
    """TCP listeners of those processes bound to anything but loopback."""
    found = []
    for conn in psutil.net_connections(kind="inet"):
        listening = conn.status == psutil.CONN_LISTEN and conn.pid in pids and conn.laddr
        if listening and not loopback(conn.laddr.ip):
            found.append(f"{conn.laddr.ip}:{conn.laddr.port} pid {conn.pid}")
    return found


def dag_runs(url: str) -> list[tuple]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(
            "select dag_id, run_type, state, end_date from dag_run order by start_date"
        ).fetchall()


def streamer_processes(root: int) -> list[psutil.Process]:
    """The streamer itself (python -m streamer), not the supervising shell that names it."""
    found = []
    for p in tree(root):
        try:
            cmd = p.cmdline()
        except psutil.Error:  # gone, or a zombie not reaped yet: not running
            continue
        if cmd[-2:] == ["-m", "streamer"] and "python" in Path(cmd[0]).name:
            found.append(p)
    return found


def closed_live(url: str) -> list[tuple]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(
            "select symbol, (extract(epoch from open_time) * 1000)::bigint, open, high, low, "
            "close, volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume "
            "from market.candles_1m_live where is_closed order by symbol, open_time"
        ).fetchall()


def recorded_gap(url: str, symbol: str, minute_ms: int) -> bool:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(
            "select exists (select 1 from market.ingest_gaps where symbol = %s "
            "and gap_start <= to_timestamp(%s / 1000.0) and gap_end > to_timestamp(%s / 1000.0))",
            (symbol, minute_ms, minute_ms),
        ).fetchone()[0]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header (and proof that it is one)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


# Passwords of the user's own, with what a shell or a URL must not take for syntax: quotes,
# `$`, a command substitution, a backslash and a percent sign (a generated one has none; the
# generated admin password is tests/test_airflow_password.py's).
USER_PASSWORDS = {
    "AIRFLOW_ADMIN_PASSWORD": """ad'min "pw" $HOME $(id) `id` \\ %27""",
    "AIRFLOW_DATABASE_PASSWORD": """af'db "pw" $PATH \\$x %s""",
    "LOADER_DATABASE_PASSWORD": """lo'ad "pw" $1 ${x}""",
    "DBT_DATABASE_PASSWORD": """d'bt "pw" $$ $'x'""",
}
# The name each is known by in processes_hold_only_their_roles (a generated one's file stem).
USER_PASSWORD_NAMES = {
    "AIRFLOW_ADMIN_PASSWORD": "airflow-admin",
    "AIRFLOW_DATABASE_PASSWORD": "airflow",
    "LOADER_DATABASE_PASSWORD": db.LOADER,
    "DBT_DATABASE_PASSWORD": db.BUILDER,
}


def user_airflow_password(tmp_path: Path) -> str:
    """The admin password the user gave: nothing generated, never shown in run.sh's output."""
    password = USER_PASSWORDS["AIRFLOW_ADMIN_PASSWORD"]
    assert not (tmp_path / "data" / "secrets" / "airflow-admin.password").exists()
    log = (tmp_path / "run.log").read_text()
    assert password not in log
    assert "Airflow login:" not in log
    return password


def airflow_requires_a_login(port: int, password: str) -> None:
    """401 from the REST API without a token (a PATCH that would pause a DAG included); the
    password gets one."""
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/api/v2/dags", timeout=30).status_code == 401
    pause = httpx.patch(f"{base}/api/v2/dags/data_quality", json={"is_paused": True}, timeout=30)
    assert pause.status_code == 401
    token = httpx.post(
        f"{base}/auth/token",
        json={"username": "admin", "password": password},
        timeout=30,
    )
    assert token.status_code in (200, 201), token.text
    listed = httpx.get(
        f"{base}/api/v2/dags",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=30,
    ).json()
    assert {d["dag_id"] for d in listed["dags"]} == DAG_IDS


def airflow_ui_signs_in_and_shows_green_dags(port: int, tmp_path: Path, password: str) -> Path:
    """Headless Chromium signs in through the login form and screenshots the DAG list with
    every DAG's latest run green."""
    base = f"http://127.0.0.1:{port}"
    shot = tmp_path / "airflow-dags.png"
    with Browser(tmp_path / "chromium", width=1440, height=1200) as browser:
        browser.navigate(f"{base}/dags")
        browser.wait_for("!!document.querySelector('input[name=username]')", "the login form")
        assert "/auth/login" in browser.url()
        browser.type_into("input[name=username]", "admin")
        browser.type_into("input[name=password]", password)
        browser.wait_for("!document.querySelector('button[type=submit]').disabled", "Sign in")
        browser.click("button[type=submit]")
        browser.wait_for("location.pathname === '/dags'", "the DAG list after signing in")
        deadline = time.monotonic() + 240
        while True:
            try:
                states = browser.wait_for(
                    f"Object.keys({DAG_STATES_JS}).length >= {len(DAG_IDS)} && {DAG_STATES_JS}",
                    "every DAG card",
                )
            except BrowserError:
                # A reload that met the api-server between two lives (it is supervised: on a
                # loaded machine it can be restarted) shows Chromium's error page for good.
                assert time.monotonic() < deadline, "the DAG list never showed every DAG"
                browser.call("Page.reload")
                continue
            assert "failed" not in states.values(), states
            if set(states) == DAG_IDS and set(states.values()) == {"success"}:
                break
            assert time.monotonic() < deadline, f"not every latest run is green: {states}"
            time.sleep(10)
            browser.call("Page.reload")
        # A reload may still be rendering when the states above were read from the old page:
        # wait for the list itself before the screenshot.
        browser.wait_for(
            " && ".join(
                f"!!document.body && document.body.innerText.includes('{dag_id}')"
                for dag_id in sorted(DAG_IDS)
            ),
            "every DAG on the list",
        )
        browser.screenshot(shot)
    assert png_size(shot) == (1440, 1200)
    assert shot.stat().st_size > 50_000
    if os.environ.get("AIRFLOW_SCREENSHOT"):
        shutil.copy(shot, os.environ["AIRFLOW_SCREENSHOT"])
    return shot


def rest_tasks_ran_in_the_pool(airflow_url: str) -> None:
    """run.sh created the binance_rest pool at its size, and the scheduler ran REST tasks in it."""
    with psycopg.connect(airflow_url, connect_timeout=5) as conn:
        slots = conn.execute("select slots from slot_pool where pool = %s", (POOL,)).fetchone()
        ran = conn.execute(
            "select count(*) from task_instance where pool = %s and state = 'success'", (POOL,)
        ).fetchone()[0]
    assert slots == (pool_size(),)
    assert ran > 0


def admin_url(tmp_path: Path, pg_port: int, database: str) -> str:
    """The embedded superuser's URL, with the password the platform generated into DATA_DIR."""
    password = (tmp_path / "data" / "secrets" / "postgres.password").read_text().strip()
    return f"postgresql://postgres:{password}@127.0.0.1:{pg_port}/{database}"


def futures_side_by_side(tmp_path: Path, pg_port: int) -> None:
    """The demo runs USDⓈ-M beside spot: the perpetuals' day of history in market_usdm, built
    into analytics_usdm, and their live minutes closed by the streamer."""
    with psycopg.connect(admin_url(tmp_path, pg_port, "binance"), connect_timeout=5) as conn:
        klines, hours, live = conn.execute(
            "select (select count(*) from market_usdm.klines_1m), "
            "(select count(*) from analytics_usdm.candles_1h), "
            "(select count(*) from market_usdm.candles_1m_live where is_closed)"
        ).fetchone()
        spot_close, perp_close = conn.execute(
            "select (select close from market.klines_1m where symbol = 'BTCUSDT' "
            "order by open_time desc limit 1), (select close from market_usdm.klines_1m "
            "where symbol = 'BTCUSDT' order by open_time desc limit 1)"
        ).fetchone()
    assert klines >= 2 * 1440, "USDⓈ-M's day of history"
    assert hours >= 2 * 24
    assert live > 0, "no perpetual minute closed live"
    assert spot_close != perp_close


def streamer_writes_as_streamer_writer(tmp_path: Path, pg_port: int) -> None:
    """The streamer's session is streamer_writer's, logged in with the password migrate generated
    into DATA_DIR (mode 0600); that role is refused market.klines_1m."""
    secrets = tmp_path / "data" / "secrets"
    given = set(USER_PASSWORD_NAMES.values())
    for name in ("postgres", *db.ROLES):
        if name in given:  # the user's: never written to disk
            assert not (secrets / f"{name}.password").exists(), name
            continue
        assert stat.S_IMODE((secrets / f"{name}.password").stat().st_mode) == 0o600, name
    with psycopg.connect(admin_url(tmp_path, pg_port, "binance"), connect_timeout=5) as conn:
        users = conn.execute(
            "select distinct usename from pg_stat_activity where application_name = 'streamer'"
        ).fetchall()
    assert users == [(db.STREAMER,)]
    password = (secrets / f"{db.STREAMER}.password").read_text().strip()
    url = f"postgresql://{db.STREAMER}:{password}@127.0.0.1:{pg_port}/binance"
    with (
        psycopg.connect(url, connect_timeout=5) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(
            "insert into market.klines_1m (symbol, open_time, open, high, low, close, "
            "volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, "
            "source) values ('BTCUSDT', '2024-01-01', 1, 1, 1, 1, 1, 1, 1, 1, 1, 'rest')"
        )


def processes_hold_only_their_roles(root: int, tmp_path: Path) -> None:
    """No process of the platform has the administrator's password in its environment or any
    password on its command line (world-readable); the streamer holds streamer_writer's alone,
    the API analytics_reader's, and Airflow (its metadata role, the task roles) none of theirs."""
    secrets = tmp_path / "data" / "secrets"
    passwords = {p.stem: p.read_text().strip() for p in secrets.glob("*.password")}
    given = {USER_PASSWORD_NAMES[var]: pw for var, pw in USER_PASSWORDS.items()}
    assert not set(given) & set(passwords), "a password given was generated too"
    passwords |= given
    assert {"postgres", "airflow", "airflow-admin", *db.ROLES} <= set(passwords)
    held_by: dict[str, set[str]] = {}
    for proc in tree(root):
        try:
            cmdline = " ".join(proc.cmdline())
            environ = "\n".join(f"{k}={v}" for k, v in proc.environ().items())
        except psutil.Error:  # gone meanwhile
            continue
        leaked = [name for name, pw in passwords.items() if pw in cmdline or quote(pw) in cmdline]
        assert not leaked, f"{cmdline[:80]}: passwords of {leaked} on the command line"
        held = {n for n, pw in passwords.items() if pw in environ or quote(pw, safe="") in environ}
        assert "postgres" not in held, f"{cmdline[:80]}: the administrator's password"
        if " -m streamer" in cmdline:
            held_by["streamer"] = held
        elif " -m api" in cmdline:
            held_by["api"] = held
        elif "airflow scheduler" in cmdline:
            held_by["airflow"] = held
    assert held_by == {
        "streamer": {db.STREAMER},
        "api": {db.READER},
        "airflow": {"airflow", db.LOADER, db.BUILDER, db.READER},
    }


def streamer_survives_sigkill(root: int, pg_port: int, fake_port: int, tmp_path: Path) -> None:
    """SIGKILL mid-minute: the supervisor restarts it within 10 s and every candle stays exact."""
    [victim] = streamer_processes(root)
    killed_at = time.monotonic()
    victim.send_signal(signal.SIGKILL)
    while not [p for p in streamer_processes(root) if p.pid != victim.pid]:
        assert time.monotonic() - killed_at < 10, "the streamer was not restarted within 10 s"
        time.sleep(0.2)
    assert "restarting" in (tmp_path / "data" / "logs" / "streamer.log").read_text()
    url = admin_url(tmp_path, pg_port, "binance")
    newest = max(row[1] for row in closed_live(url))
    # Two more minutes close after the restart, repaired across the kill.
    deadline = time.monotonic() + 200
    while max(row[1] for row in closed_live(url)) < newest + 120_000:
        assert time.monotonic() < deadline, "no minute closed after the restart"
        time.sleep(2)
    rows = closed_live(url)
    for symbol in {row[0] for row in rows}:
        mine = [row[1:] for row in rows if row[0] == symbol]
        official = httpx.get(
            f"http://127.0.0.1:{fake_port}/api/v3/klines",
            params={
                "symbol": symbol,
                "interval": "1m",
                "startTime": mine[0][0],
                "endTime": mine[-1][0],
                "limit": 1000,
            },
        ).json()
        want = {
            k[0]: (k[0], *map(Decimal, k[1:6]), Decimal(k[7]), k[8], Decimal(k[9]), Decimal(k[10]))
            for k in official
        }
        got = {row[0]: row for row in mine}
        assert set(got) <= set(want), f"{symbol}: a closed minute Binance has no kline for"
        for minute, row in got.items():
            assert row == want[minute], f"{symbol} {minute}: closed live candle differs"
        # A minute the kill cost is either closed exactly or recorded for heal-gaps, never lost.
        for minute in sorted(set(want) - set(got)):
            assert recorded_gap(url, symbol, minute), f"{symbol} {minute}: missing, no gap recorded"


@pytest.mark.timeout(1200)
def test_demo_is_green_on_its_own_and_listens_on_loopback_only(tmp_path: Path) -> None:
    """History, every DAG unpaused, a green data_quality run soon after the UI, nothing failed,
    USDⓈ-M's perpetuals beside spot's symbols;
    Airflow asks for a login (the REST API answers 401 without one) with the user's password,
    never shown, and the DAG list seen through it is green; the passwords the user gives (the
    Airflow login's, Airflow's database role's, the loader's and dbt's, with quotes and `$` in
    them) work and reach no service but the ones they are for; the streamer writes as
    streamer_writer, with the password generated into DATA_DIR,
    and that role cannot write market.klines_1m."""
    ports = [pgserver.free_port() for _ in range(6)]
    pg_port, api_port, fake_port, read_port, grpc_port, health_port = ports
    env = {
        k: v
        for k, v in os.environ.items()
        # The roles' passwords too: the demo generates its own into DATA_DIR.
        if not k.startswith(
            ("AIRFLOW", "DATABASE_URL", "BINANCE_", "SYMBOLS", "API_", "STREAMER_", "LOADER_")
        )
        and not k.startswith(("DBT_", "MARKETS", "USDM_", "COINM_"))
    }
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        EMBEDDED_PG_PORT=str(pg_port),
        AIRFLOW__API__PORT=str(api_port),
        FAKE_PORT=str(fake_port),
        API_PORT=str(read_port),
        API_GRPC_PORT=str(grpc_port),
        # Its own port: another streamer on this machine (a developer's make run) must not matter.
        STREAMER_HEALTH_PORT=str(health_port),
        BOOTSTRAP_DAYS="1",
        **USER_PASSWORDS,
    )
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        ["bash", "scripts/run.sh", "demo"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # Ctrl-C as a terminal gives it: a process started in the background (nohup, `&`)
        # inherits SIGINT ignored, and bash cannot trap a signal ignored when it started.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 420
        announced = None
        while announced is None:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Airflow UI was never announced"
            if "Airflow UI on" in (tmp_path / "run.log").read_text():
                announced = time.monotonic()
            time.sleep(1)
        airflow_url = admin_url(tmp_path, pg_port, "airflow")
        green = None
        while green is None:
            runs = dag_runs(airflow_url) if time.monotonic() - announced > 20 else []
            failed = [r for r in runs if r[2] == "failed"]
            assert not failed, f"failed DAG runs: {failed}"
            if any(r[0] == "data_quality" and r[2] == "success" for r in runs):
                green = time.monotonic() - announced
            assert time.monotonic() - announced < GREEN_WITHIN, f"no green data_quality: {runs}"
            time.sleep(3)
        print(f"first green data_quality {green:.0f} s after the UI was announced")
        pids = {p.pid for p in tree(proc.pid)}
        assert non_loopback_listeners(pids) == []
        rest_tasks_ran_in_the_pool(airflow_url)
        password = user_airflow_password(tmp_path)
        airflow_requires_a_login(api_port, password)
        if CHROMIUM:
            started = time.monotonic()
            shot = airflow_ui_signs_in_and_shows_green_dags(api_port, tmp_path, password)
            took = time.monotonic() - started
            print(
                f"Airflow UI signed in, all green: {shot.stat().st_size} B screenshot, {took:.0f} s"
            )
        logs = tmp_path / "data" / "logs"
        assert stat.S_IMODE(logs.stat().st_mode) == 0o750
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in logs.iterdir() if p.is_file()}
        assert modes
        assert {name: mode for name, mode in modes.items() if mode & 0o027} == {}
        streamer_writes_as_streamer_writer(tmp_path, pg_port)
        futures_side_by_side(tmp_path, pg_port)
        processes_hold_only_their_roles(proc.pid, tmp_path)
        streamer_survives_sigkill(proc.pid, pg_port, fake_port, tmp_path)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=90)
        finally:
            log.close()
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == [], f"still running: {[p.info['cmdline'] for p in leftovers]}"
    # All else passed; the Airflow UI check above needs chromium, which set-up installs.
    require("chromium", CHROMIUM is not None, "the demo's Airflow UI check")
