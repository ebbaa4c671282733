"""scripts/security_probe.py's deployment probes: what the API's and the streamer's processes
hold, and Airflow's REST API against another origin (each returns (held, what was seen))."""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx

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
