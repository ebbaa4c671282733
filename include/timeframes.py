"""Build analytics.candles_<tf> with dbt, and let writers declare which minutes changed."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg

from include import db
from include.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d", "1w")
# Any constant works; it keeps two builds (the DAG and a manual CLI run) from interleaving.
BUILD_LOCK_KEY = 0x74_66_62_75_69_6C_64
# Declared ranges stay readable this long after a build consumed them, then are pruned.
DIRTY_RANGE_RETENTION = "7 days"


class TimeframeBuildError(RuntimeError):
    """dbt could not build the timeframes; the message is dbt's own one-line reason."""


@dataclass(frozen=True)
class DbtRun:
    """One finished dbt invocation: its arguments, exit status, output and duration."""

    args: tuple[str, ...]
    returncode: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def reason(self) -> str:
        """dbt's first error line, for a one-line failure message."""
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        summary = _summary_lines(lines)
        for line in summary or lines:
            text = _strip_timestamp(line)
            if any(word in text for word in ("Error", "error", "Failure", "FAIL")):
                detail = _next_detail(summary or lines, line)
                return f"{text}: {detail}" if detail else text
        return _strip_timestamp(lines[-1]) if lines else f"dbt exited with {self.returncode}"


def _summary_lines(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if "Completed with" in line or "Encountered an error" in line:
            return lines[index + 1 :]
    return []


def _strip_timestamp(line: str) -> str:
    # dbt prefixes every line with "HH:MM:SS  "; the reason reads better without it.
    head, _, rest = line.partition("  ")
    return rest.strip() if head.count(":") == 2 and head.replace(":", "").isdigit() else line


def _next_detail(lines: list[str], line: str) -> str:
    index = lines.index(line)
    for following in lines[index + 1 : index + 4]:
        text = _strip_timestamp(following)
        if text and not text.startswith(("compiled code", "Done.", "See test failures")):
            return text
    return ""


def dbt_env(database_url: str) -> dict[str, str]:
    """The variables profiles.yml reads, derived from a libpq URL."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise TimeframeBuildError(f"DATABASE_URL must be a postgresql:// URL, got {parts.scheme!r}")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise TimeframeBuildError("DATABASE_URL names no database")
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    return {
        "DBT_PGHOST": parts.hostname or "127.0.0.1",
        "DBT_PGPORT": str(parts.port or 5432),
        "DBT_PGUSER": unquote(parts.username or os.environ.get("PGUSER", "postgres")),
        "DBT_PGPASSWORD": unquote(parts.password or os.environ.get("PGPASSWORD", "")),
        "DBT_PGDATABASE": dbname,
        "DBT_PGSSLMODE": query.get("sslmode", "prefer"),
    }


def dbt_executable() -> str:
    """The dbt of this interpreter's environment (the venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if not found:
        raise TimeframeBuildError("dbt is not installed in this environment")
    return found


def run_dbt(args: Sequence[str], database_url: str | None = None) -> DbtRun:
    """Run one dbt command against the platform database and return its outcome."""
    url = database_url or db.resolve_database_url()
    env = {
        **os.environ,
        **dbt_env(url),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_LOG_PATH": str(DBT_PROJECT_DIR / "target" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    command = [dbt_executable(), *args]
    logger.info("running %s", " ".join(args))
    started = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    output = completed.stdout + completed.stderr
    for line in output.splitlines():
        logger.info("dbt: %s", line)
    return DbtRun(tuple(args), completed.returncode, output, seconds)


def build_timeframes(
    database_url: str | None = None,
    *,
    full_refresh: bool = False,
    select: str | None = None,
) -> DbtRun:
    """Run `dbt build` (models, tests, unit tests); raise with dbt's reason when it fails."""
    url = database_url or db.resolve_database_url()
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]
    with psycopg.connect(url, autocommit=True) as lock_conn:
        # A session lock held by this process while dbt, a child process, does the work.
        lock_conn.execute("select pg_advisory_lock(%s)", (BUILD_LOCK_KEY,))
        result = run_dbt(args, url)
        if result.ok:
            prune_dirty_ranges(lock_conn)
    if not result.ok:
        raise TimeframeBuildError(f"dbt build failed: {result.reason()}")
    logger.info("dbt build finished in %.1f s", result.seconds)
    return result


def publish_docs(out_dir: Path, database_url: str | None = None) -> Path:
    """Generate the dbt docs as one static HTML page and copy it to out_dir/index.html."""
    result = run_dbt(["docs", "generate", "--static"], database_url)
    if not result.ok:
        raise TimeframeBuildError(f"dbt docs generate failed: {result.reason()}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    shutil.copyfile(DBT_PROJECT_DIR / "target" / "static_index.html", target)
    return target


def mark_dirty(
    conn: psycopg.Connection,
    symbol: str,
    start: datetime,
    end: datetime,
    reason: str | None = None,
) -> None:
    """Declare [start, end) of a symbol changed: the next build recomputes every candle over it.

    Call it in the same transaction as the change. Rows written to market.klines_1m with a
    fresh loaded_at are found without it; it is for changes the load time cannot show (deleted
    rows, corrections that keep loaded_at) and as an explicit record of what a job touched.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("mark_dirty needs timezone-aware datetimes (UTC)")
    if end <= start:
        raise ValueError(f"mark_dirty: empty range {start.isoformat()} .. {end.isoformat()}")
    conn.execute(
        "insert into market.timeframe_dirty_ranges (symbol, range_start, range_end, reason) "
        "values (%s, %s, %s, %s)",
        (symbol.upper(), start, end, reason),
    )


def prune_dirty_ranges(conn: psycopg.Connection) -> int:
    """Forget declared ranges that builds have long consumed; return how many were removed."""
    cur = conn.execute(
        "delete from market.timeframe_dirty_ranges where marked_at < now() - %s::interval",
        (DIRTY_RANGE_RETENTION,),
    )
    return cur.rowcount
