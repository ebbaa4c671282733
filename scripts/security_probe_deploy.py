"""scripts/security_probe.py's deployment probes: the database roles' limits and doors, what the
API's and the streamer's processes hold, and Airflow's REST API against another origin (each
returns (held, what was seen))."""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx
import psycopg

from include.platform import db, role_limits

if TYPE_CHECKING:
    from security_probe import Target

# Airflow's secrets: none may be in the API's or the streamer's environment.
AIRFLOW_SECRET_NAMES = (
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_DATABASE_PASSWORD",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_FERNET_KEY",
)


# --- database roles -------------------------------------------------------------------------


def probe_role_limits(t: Target) -> tuple[bool, str]:
    """Every platform role and Airflow's: both timeouts set (not 0) and a connection limit."""
    roles = (*db.ROLES, role_limits.AIRFLOW)
    with psycopg.connect(t.admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "select r.rolname, r.rolconnlimit, coalesce(s.setconfig, '{}') from pg_roles as r "
            "left join pg_db_role_setting as s on s.setrole = r.oid and s.setdatabase = 0 "
            "where r.rolname = any(%s)",
            (list(roles),),
        ).fetchall()
    seen, missing = [], [r for r in roles if r not in {row[0] for row in rows}]
    for role, limit, config in sorted(rows):
        got = dict(item.split("=", 1) for item in config)
        st, idle = got.get("statement_timeout"), got.get("idle_in_transaction_session_timeout")
        if limit <= 0 or st in (None, "0", "0ms") or idle in (None, "0", "0ms"):
            missing.append(role)
        seen.append(f"{role} {st}/{idle}/{limit}")
    return (
        not missing,
        f"statement/idle/connections: {', '.join(seen)}"
        + (f"; missing on {missing}" if missing else ""),
    )


def probe_airflow_no_connect(t: Target) -> tuple[bool, str]:
    """The `airflow` role logs in to its own database, not the platform's."""
    password = t.secret("airflow", "AIRFLOW_DATABASE_PASSWORD")
    if password is None:
        return (False, "no airflow password in DATA_DIR/secrets to try")
    own = db.with_credentials(db.with_database(t.admin_url, "airflow"), "airflow", password)
    platform = db.with_database(own, psycopg.conninfo.conninfo_to_dict(t.admin_url)["dbname"])
    with psycopg.connect(own, connect_timeout=5) as conn:
        conn.execute("select 1")
    try:
        psycopg.connect(platform, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        refused = "permission denied for database" in str(exc)
        return (refused, f"own database: in; platform's: {last_line(exc)}")
    return (False, "airflow logged in to the platform's database")


def last_line(exc: BaseException) -> str:
    """An error's last line (PostgreSQL's DETAIL, say), or its type when it has no text."""
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


# --- processes and Airflow ------------------------------------------------------------------


def platform_processes(data_dir: Path) -> list[tuple[int, str, dict[str, str]]]:
    """(pid, command line, environment) of every process run with this DATA_DIR."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            raw = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        env = dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)
        here = env.get("DATA_DIR")
        if here and Path(here).resolve() == data_dir:
            found.append((int(entry.name), cmd, env))
    return found


def airflow_secret_values(t: Target, processes: list) -> dict[str, str]:
    """Airflow's secrets as Airflow's own processes and files hold them."""
    values = {}
    for _, _, env in processes:
        for name in AIRFLOW_SECRET_NAMES:
            if name == "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                # Airflow's task processes hold a placeholder URL without a password.
                if password := urlsplit(env.get(name, "")).password:
                    values["airflow database password"] = unquote(password)
            elif env.get(name):
                values[name] = env[name]
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(Path(os.environ.get("AIRFLOW_HOME", t.data_dir / "airflow")) / "airflow.cfg")
    for section, key in (("core", "fernet_key"), ("api_auth", "jwt_secret")):
        if value := cfg.get(section, key, fallback=""):
            values[f"airflow.cfg [{section}] {key}"] = value
    for name in ("airflow", "airflow-admin"):
        if value := t.secret(name):
            values[f"secrets/{name}.password"] = value
    return values


def probe_process_env(t: Target) -> tuple[bool, str]:
    """The API's and the streamer's processes hold no Airflow secret, by name or by value."""
    processes = platform_processes(t.data_dir)
    secrets = airflow_secret_values(t, processes)
    services = [
        (pid, cmd, env) for pid, cmd, env in processes if cmd.endswith(("-m api", "-m streamer"))
    ]
    leaks = []
    for pid, cmd, env in services:
        text = "\n".join(f"{k}={v}" for k, v in env.items())
        names = [n for n in env if n.startswith("AIRFLOW")]
        values = [label for label, value in secrets.items() if len(value) >= 8 and value in text]
        if names or values:
            leaks.append(f"pid {pid} ({cmd[-20:]}): {names + values}")
    held = bool(services) and len(secrets) >= 3 and not leaks
    pids = ", ".join(f"{pid} {cmd.rsplit(' ', 1)[-1]}" for pid, cmd, _ in services)
    return (
        held,
        f"{len(services)} processes ({pids}) checked for {len(secrets)} Airflow secrets "
        f"({', '.join(sorted(secrets))}): " + ("; ".join(leaks) if leaks else "none held"),
    )


async def probe_airflow_origin(t: Target) -> tuple[bool, str]:
    """Airflow's REST API: a POST with the login cookie from another local port's page is
    refused (403) and writes nothing."""
    user = os.environ.get("AIRFLOW_ADMIN_USER", "admin")
    password = t.secret("airflow-admin", "AIRFLOW_ADMIN_PASSWORD")
    async with httpx.AsyncClient(base_url=t.airflow, timeout=30) as client:
        login = await client.post("/auth/token", json={"username": user, "password": password})
        if login.status_code not in (200, 201):
            return (False, f"login {login.status_code}: cannot try")
        cookie = {"Cookie": f"_token={login.json()['access_token']}"}
        name = f"probe_origin_{os.getpid()}"
        pool = {"name": name, "slots": 1, "include_deferred": False}
        seen = []
        for origin in ("http://127.0.0.1:1", "null"):
            answer = await client.post(
                "/api/v2/pools", json=pool, headers={**cookie, "Origin": origin}
            )
            seen.append(f"Origin {origin}: {answer.status_code}")
        listed = await client.get("/api/v2/pools", headers=cookie, params={"limit": 1000})
        written = name in listed.text
    held = all(s.endswith(": 403") for s in seen) and listed.status_code == 200 and not written
    return (
        held,
        f"cookie POST /api/v2/pools {'; '.join(seen)}; GET pools with the cookie "
        f"{listed.status_code}, pool {'created' if written else 'not created'}",
    )
