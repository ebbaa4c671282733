"""The environment each process `make run` starts may see: its own settings and nothing else.

scripts/env.sh exports all of .env into run.sh, which used to hand it whole to every child: the
API and the streamer held Airflow's admin password, its metadata role's, its JWT secret and its
Fernet key, so code run through either could act as Airflow's admin. run.sh now starts each
process through ``python -m include.platform.process_env NAME -- command...``, which replaces
itself with the command under a filtered environment: the system's basics, the platform
variables every part reads, and the process's own (PROCESSES). ENV_FILE points at /dev/null,
so the process does not read the whole of .env again by itself (include/platform/settings.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from include.platform.markets import MARKET_VARIABLES
from include.platform.settings import DESIGN_VARIABLES

# What any program needs to run as the user who started it: never a secret.
SYSTEM_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "TMPDIR",
        "VIRTUAL_ENV",
        "ROOT",
        # Outbound HTTP through a proxy, and the CAs it is checked against.
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        # libpq's TLS settings for an external server (paths and modes; no password).
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGSSLCRL",
        "PGCONNECT_TIMEOUT",
    }
)
SYSTEM_PREFIXES = ("LC_", "PYTHON")
# DESIGN.md's variables and the other platform-wide ones every part reads; DATABASE_URL is not
# among them: it is the administrator's, and each part connects as its own role.
PLATFORM_NAMES = (
    frozenset(DESIGN_VARIABLES) - {"DATABASE_URL"}
    | set(MARKET_VARIABLES)
    | {
        "SECOND_CANDLE_SYMBOLS",
        "SECOND_CANDLE_RETENTION",
        "LIVE_RETENTION_DAYS",
    }
)
# The task roles' URLs Airflow's tasks connect with, and dbt's own settings.
_TASK_ROLES = ("LOADER_DATABASE_URL", "DBT_DATABASE_URL", "API_DATABASE_URL")
_DBT = ("DBT_PROFILES_DIR", "DBT_TARGET_PATH")

# Each process: (names, prefixes) of its own variables, besides the system's and the platform's.
PROCESSES: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    # The streamer's STREAMER_* knobs and its role (STREAMER_DATABASE_URL or _PASSWORD).
    "streamer": (frozenset(), ("STREAMER_",)),
    # The API's API_* settings: its tokens, TLS and its role (analytics_reader).
    "api": (frozenset(), ("API_",)),
    # Airflow's parts run the DAGs' tasks: Airflow's own AIRFLOW__* (its metadata URL, JWT secret,
    # Fernet key), its plugin's allowed hosts, the alert webhook and the task roles' URLs. Not
    # AIRFLOW_ADMIN_PASSWORD: only the command that writes the passwords file reads it.
    "airflow": (
        frozenset(
            {
                "AIRFLOW_HOME",
                "AIRFLOW_CONFIG",
                "AIRFLOW_ALLOWED_HOSTS",
                "ALERT_WEBHOOK_URL",
                *_TASK_ROLES,
                *_DBT,
            }
        ),
        ("AIRFLOW__",),
    ),
    # The history bootstrap: loads as history_loader, builds as dbt_builder.
    "bootstrap": (frozenset({"LOADER_DATABASE_URL", "DBT_DATABASE_URL", *_DBT}), ()),
    # `include.cli live --follow`, the terminal's view of the live table, as analytics_reader.
    "live": (frozenset({"API_DATABASE_URL"}), ()),
    # The demo's fake exchange: its settings come on its command line.
    "fakebinance": (frozenset(), ()),
}


def process_env(process: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The part of environ that process may see, and ENV_FILE pointing at no file."""
    if process not in PROCESSES:
        raise ValueError(f"process {process!r}: one of {', '.join(PROCESSES)}")
    names, prefixes = PROCESSES[process]
    allowed = SYSTEM_NAMES | PLATFORM_NAMES | names
    starts = (*SYSTEM_PREFIXES, *prefixes)
    env = {k: v for k, v in environ.items() if k in allowed or k.startswith(starts)}
    env["ENV_FILE"] = os.devnull
    return env


def main(argv: list[str]) -> int:
    """``NAME -- command...``: exec the command with NAME's environment (never returns then)."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m include.platform.process_env NAME -- command...", file=sys.stderr)
        return 2
    try:
        env = process_env(argv[0], os.environ)
    except ValueError as exc:
        print(f"process_env: {exc}", file=sys.stderr)
        return 2
    os.execvpe(argv[2], argv[2:], env)
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
