"""Build analytics.candles_<tf> with dbt, and let writers declare which minutes changed."""

from __future__ import annotations

import json
import logging
import os
import re
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
import yaml

from include.platform import db, markets
from include.platform.intervals import STORED
from include.platform.live import streamer_writing
from include.platform.markets import SPOT, Market
from include.platform.migrate import maintain_partitions
from include.platform.settings import PROJECT_ROOT, get_settings

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
TIMEFRAMES = STORED  # the marts dbt builds (include/platform/intervals.py)
# Declared ranges stay readable this long after a build consumed them, then are pruned.
DIRTY_RANGE_RETENTION = "7 days"
# dbt's look-back (vars.lookback in dbt_project.yml, the one place it is set).
LOOKBACK = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["lookback"]


# How dbt starts the line that names what failed ("Failure in test x", "Runtime Error", ...).
FAILURE_HEADLINES = (
    "Failure in",
    "Error in",
    "Runtime Error",
    "Compilation Error",
    "Parsing Error",
)


class TimeframeBuildError(RuntimeError):
    """dbt could not build the timeframes; the message is dbt's own one-line reason."""


class SourceStale(TimeframeBuildError):
    """dbt ran and judged a source older than its ``error_after``: a retry seconds later
    would only hold the next build back (the next scheduled run checks again)."""


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
        """dbt's first failure and its cause, as one line."""
        lines = [_strip_timestamp(line.strip()) for line in self.output.splitlines()]
        lines = [line for line in lines if line]
        summary = _summary_lines(lines) or lines
        for index, line in enumerate(summary):
            if line.startswith(FAILURE_HEADLINES):
                details = [
                    detail
                    for detail in summary[index + 1 : index + 6]
                    if not re.match(
                        r"^\w+ Error in |^compiled code at|^See test failures|^Done\.", detail
                    )
                ]
                return f"{line}: {details[0]}" if details else line
        return lines[-1] if lines else f"dbt exited with {self.returncode}"


def _summary_lines(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if "Completed with" in line or "Encountered an error" in line:
            return lines[index + 1 :]
    return []


def _strip_timestamp(line: str) -> str:
    # dbt prefixes every line with "HH:MM:SS  "; the reason reads better without it.
    return re.sub(r"^\d\d:\d\d:\d\d\s+", "", line)


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


def target_path(database_url: str, market: Market = SPOT) -> Path:
    """dbt's target directory for one database (and market): DBT_TARGET_PATH, else one per
    database.

    Separate directories keep builds of different databases (tests, the quality checks, the
    platform) from overwriting each other's manifest and compiled SQL; a futures market's
    builds (other vars, so another manifest) keep theirs beside, so each market's partial
    parse stays valid.
    """
    suffix = "" if market is SPOT else f"-{market.name}"
    if os.environ.get("DBT_TARGET_PATH"):
        return Path(os.environ["DBT_TARGET_PATH"] + suffix)
    env = dbt_env(database_url)
    name = f"{env['DBT_PGDATABASE']}@{env['DBT_PGHOST']}_{env['DBT_PGPORT']}{suffix}"
    return DBT_PROJECT_DIR / "target" / re.sub(r"[^A-Za-z0-9_.@-]", "_", name)


def run_dbt(args: Sequence[str], database_url: str | None = None, market: Market = SPOT) -> DbtRun:
    """Run one dbt command against the platform database (for a futures market: over its
    schemas) and return its outcome."""
    url = database_url or db.resolve_role_url(db.BUILDER)
    target = target_path(url, market)
    if market is not SPOT:
        args = [*args, "--vars", json.dumps({"market": market.name})]
    env = {
        **os.environ,
        **dbt_env(url),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
        # Each line as dbt writes it, not a pipe's buffer at a time: the progress is logged as
        # it happens (a build at ALL runs minutes; its task log said nothing until the end).
        "PYTHONUNBUFFERED": "1",
    }
    command = [dbt_executable(), *args]
    logger.info("running %s", " ".join(args))
    started = time.perf_counter()
    lines = []
    # A process of its own (dbt's in-process runner keeps global state: one invocation per
    # process at a time, and its memory stays with the caller, an Airflow task or the CLI).
    with subprocess.Popen(
        command,
        cwd=DBT_PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as dbt:
        for line in dbt.stdout:  # type: ignore[union-attr]
            lines.append(line.rstrip("\n"))
            logger.info("dbt: %s", lines[-1])
        returncode = dbt.wait()
    seconds = time.perf_counter() - started
    return DbtRun(tuple(args), returncode, "\n".join(lines), seconds)


def build_timeframes(
    database_url: str | None = None,
    *,
    full_refresh: bool = False,
    select: str | None = None,
    unit_tests: bool = True,
    market: str | Market = SPOT,
) -> DbtRun:
    """Run `dbt build` (models, data tests, unit tests); raise with dbt's reason when it fails.

    A futures market's build is the same models and tests over its own schemas (market_usdm
    into analytics_usdm). Scheduled production runs pass unit_tests=False, as dbt advises: unit
    tests check the SQL, which only changes with a deployment, and CI runs them.
    """
    venue = markets.market(market)
    url = database_url or db.resolve_role_url(db.BUILDER)
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if select:
        args += ["--select", select]
    with psycopg.connect(url, autocommit=True) as lock_conn:
        # A session lock held by this process while dbt, a child process, does the work.
        # dbt_builder may not create the schemas of an unmigrated database: say what is missing.
        klines = venue.table("klines_1m")
        if lock_conn.execute("select to_regclass(%s)", (klines,)).fetchone()[0] is None:
            raise TimeframeBuildError(
                f"{klines} does not exist: run `python -m include.cli migrate` first"
            )
        lock_conn.execute("select pg_advisory_lock(%s)", (db.MARTS_LOCK_KEY,))
        # What the read API pushed from the live minutes and this build may correct.
        loaded_since = corrections_since(lock_conn, venue)
        # Every few minutes, so a long-running install has its coming months and days without
        # waiting for a restart (the live retention is binance_backfill_rest's, once a day).
        maintain_partitions(lock_conn, retention=False)
        result = run_dbt(args, url, venue)
        if result.ok:
            announce_corrections(lock_conn, loaded_since, venue)
            prune_dirty_ranges(lock_conn, venue)
            analyze_new_partitions(lock_conn, venue)
    if not result.ok:
        raise TimeframeBuildError(f"dbt build failed: {result.reason()}")
    logger.info("dbt build finished in %.1f s", result.seconds)
    return result


def check_source_freshness(database_url: str | None = None) -> DbtRun:
    """Run `dbt source freshness`; raise when a source is older than its error_after.

    The live table counts only while the streamer is expected to run (it wrote within the
    last hour): a batch-only install, or a streamer stopped on purpose, is not a failure.
    """
    url = database_url or db.resolve_role_url(db.BUILDER)
    args = ["source", "freshness"]
    with psycopg.connect(url) as conn:
        if not streamer_writing(conn):
            logger.info("no live candle written in the last hour: live freshness not checked")
            args += ["--select", "source:market.klines_1m"]
    # The verdict is read from this run's sources.json, never from an earlier run's.
    (target_path(url) / "sources.json").unlink(missing_ok=True)
    result = run_dbt(args, url)
    if not result.ok:
        message = f"dbt source freshness failed: {result.reason()}"
        raise (SourceStale if _only_stale(url, result.output) else TimeframeBuildError)(message)
    return result


def _only_stale(database_url: str, output: str) -> bool:
    """Whether the last `dbt source freshness` judged every source it ran and found one stale
    (rather than failing to query one: a lost connection is worth a retry, a stale source is
    not). sources.json leaves out the sources dbt could not query, so its count is checked
    against the count dbt ran."""
    ran = re.search(r"Finished running (\d+) sources?\b", output)
    try:
        results = json.loads((target_path(database_url) / "sources.json").read_bytes())["results"]
    except (OSError, ValueError, KeyError):
        return False
    statuses = {r.get("status") for r in results}
    return (
        ran is not None
        and len(results) == int(ran.group(1))
        and "error" in statuses
        and statuses <= {"pass", "warn", "error"}
    )


def docs_dir() -> Path:
    """Where the static dbt docs page is published."""
    return get_settings().data_dir / "dbt_docs"


def publish_docs(out_dir: Path, database_url: str | None = None) -> Path:
    """Generate the dbt docs as one static HTML page and copy it to out_dir/index.html."""
    url = database_url or db.resolve_role_url(db.BUILDER)
    result = run_dbt(["docs", "generate", "--static"], url)
    if not result.ok:
        raise TimeframeBuildError(f"dbt docs generate failed: {result.reason()}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    shutil.copyfile(target_path(url) / "static_index.html", target)
    return target


def mark_dirty(
    conn: psycopg.Connection,
    symbol: str,
    start: datetime,
    end: datetime,
    reason: str | None = None,
    market: Market = SPOT,
) -> None:
    """Declare [start, end) of a symbol changed (of the market): the next build recomputes
    every candle over it.

    Call it in the same transaction as the change. Rows written to market.klines_1m with a
    fresh loaded_at are found without it; it is for changes the load time cannot show (deleted
    rows, corrections that keep loaded_at) and as an explicit record of what a job touched.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("mark_dirty needs timezone-aware datetimes (UTC)")
    if end <= start:
        raise ValueError(f"mark_dirty: empty range {start.isoformat()} .. {end.isoformat()}")
    conn.execute(
        market.sql(
            "insert into market.timeframe_dirty_ranges (symbol, range_start, range_end, reason) "
            "values (%s, %s, %s, %s)"
        ),
        (symbol.upper(), start, end, reason),
    )


def corrections_since(conn: psycopg.Connection, market: Market = SPOT) -> datetime:
    """The load time from which this build rolls the market's official klines up again, as its
    5m mart's incremental run reads (market.incremental_since, the rule's one owner, which
    dbt's incremental_since() macro calls too). Before the first build the API rolls every
    candle up from the minutes, so nothing stale was pushed."""
    mart = f"{market.timeframes_schema}.candles_5m"
    if conn.execute("select to_regclass(%s)", (mart,)).fetchone()[0] is None:  # type: ignore[index]
        return conn.execute("select now()").fetchone()[0]  # type: ignore[index]
    row = conn.execute(
        "select coalesce(nullif(market.incremental_since(%s::regclass, %s), '-infinity'), now())",
        (mart, LOOKBACK),
    ).fetchone()
    return row[0]  # type: ignore[index]


def announce_corrections(
    conn: psycopg.Connection, loaded_since: datetime, market: Market = SPOT
) -> int:
    """Tell the read API (NOTIFY on the market's channel) which minutes of the market an
    official kline loaded since ``loaded_since`` corrected.

    Subscribers got the live candle of those minutes; until this build the longer candles
    over them still held it. Returns how many minutes were announced.
    """
    row = conn.execute(
        "select market.notify_market_rebuilt_corrections(%s, %s)",
        (market.raw_schema, loaded_since),
    ).fetchone()
    minutes = int(row[0]) if row else 0
    if minutes:
        logger.info("announced %d corrected minutes to the read API", minutes)
    return minutes


def analyze_new_partitions(conn: psycopg.Connection, market: Market = SPOT) -> list[str]:
    """Analyze the marts' tables that hold rows and have no statistics (a first build, a full
    refresh, a new month); return their names.

    Until autovacuum gets to them, the planner has no statistics for a table dbt just filled
    and guesses: right after a full refresh, the year's quality check took 6.7 s instead of
    0.2 s for 4h cross-timeframe alone. A table analyzed once is left to autovacuum.
    """
    names = [
        name
        for (name,) in conn.execute(
            # No statistics, and not known empty (an analyzed empty table has 0 rows and no
            # statistics; reltuples is -1 before any analyze, and the row count once an
            # index was built over the rows).
            "select format('%%I.%%I', n.nspname, c.relname) from pg_class as c "
            "join pg_namespace as n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind = 'r' and c.reltuples <> 0 "
            "and pg_has_role(c.relowner, 'USAGE') and not exists ("
            "select from pg_stats as s where s.schemaname = n.nspname "
            "and s.tablename = c.relname) order by 1",
            (market.timeframes_schema,),
        ).fetchall()
    ]
    for name in names:
        conn.execute(f"analyze {name}")
    if names:
        logger.info("analyzed %d new mart tables", len(names))
    return names


def prune_dirty_ranges(conn: psycopg.Connection, market: Market = SPOT) -> int:
    """Forget declared ranges (of the market) that builds have long consumed; return how many
    were removed."""
    cur = conn.execute(
        market.sql(
            "delete from market.timeframe_dirty_ranges where marked_at < now() - %s::interval"
        ),
        (DIRTY_RANGE_RETENTION,),
    )
    return cur.rowcount
