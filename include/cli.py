"""The batch jobs as commands: `python -m include.cli --help`."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from include import jobs
from include.platform import db, pgserver
from include.platform.migrate import migrate as apply_migrations
from include.platform.settings import env_file, first_line, get_settings

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Batch jobs of the Binance candle platform (the DAGs run the same functions).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(
    help="Manage the embedded PostgreSQL server under ./.data/.", no_args_is_help=True
)
app.add_typer(db_app, name="db")

# Options several commands share, with one help text each.
Symbols = Annotated[
    list[str] | None,
    typer.Option(
        "--symbol", "-s", help="Symbol; repeat for several. Default: SYMBOLS (ALL works)."
    ),
]
Start = Annotated[str, typer.Option(help="First minute, UTC (2025-01-01 or 2025-01-01T10:00).")]
End = Annotated[str, typer.Option(help="End, exclusive, UTC.")]


def one_line_errors(func: Callable[..., object]) -> Callable[..., object]:
    """Turn any failure into a one-line reason on stderr and exit status 1."""

    @wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as err:  # the contract is one line, not a traceback
            logger.debug("command failed", exc_info=True)
            typer.echo(f"error: {first_line(err)}", err=True)
            raise typer.Exit(1) from err

    return wrapper


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    """Configure logging once, for every command (each reads the settings, .env included)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@app.command()
def config() -> None:
    """Print the configuration in effect (environment, then .env, then defaults)."""
    settings = get_settings()
    url = settings.database_url
    if url:
        parts = urlsplit(url)
        if parts.password:
            url = url.replace(f":{parts.password}@", ":***@", 1)
    rows = {
        "DATABASE_URL": url or f"embedded PostgreSQL under {settings.data_dir / 'pg'}",
        "SYMBOLS": "ALL" if settings.symbols is None else " ".join(settings.symbols),
        "BINANCE_WS_URL": settings.binance_ws_url,
        "BINANCE_REST_URL": settings.binance_rest_url,
        "BINANCE_DATA_URL": settings.binance_data_url,
        "DATA_DIR": str(settings.data_dir),
        "ALERT_WEBHOOK_URL": "set" if settings.alert_webhook_url else "unset",
        ".env": str(env_file()) if env_file().is_file() else "none",
    }
    for name, value in rows.items():
        typer.echo(f"{name}={value}")


@app.command()
def migrate() -> None:
    """Create or upgrade the platform's tables (safe to run twice)."""
    applied = apply_migrations(db.resolve_database_url())
    typer.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


@app.command()
def partitions(
    retention_days: int = typer.Option(
        None,
        "--live-retention-days",
        min=0,
        help="Drop market.candles_1m_live's days that ended longer ago and whose every minute "
        "has its official kline (default: LIVE_RETENTION_DAYS, 7; 0 = keep every day).",
    ),
) -> None:
    """Create the coming partitions, empty the DEFAULT ones, apply live retention."""
    from include.jobs import live_retention

    done = live_retention(retention_days, database_url=db.resolve_database_url())
    for table, made in done["created"].items():
        typer.echo(f"{table}: {made} partition(s) created")
    if not done["days"]:
        typer.echo("live retention: off (LIVE_RETENTION_DAYS=0)")
    elif done["deferred"]:
        typer.echo(
            f"live retention ({done['days']} days): deferred, market.candles_1m_live stayed in use"
        )
    else:
        dropped = " ".join(done["dropped"]) or "none"
        kept = " ".join(done["kept"])
        kept = f"; kept (a minute without its kline): {kept}" if kept else ""
        typer.echo(f"live retention ({done['days']} days): dropped {dropped}{kept}")


@app.command("build-timeframes")
def build_timeframes(
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Rebuild every analytics.candles_<tf> table from scratch."
    ),
    select: str = typer.Option(None, help="A dbt selector, e.g. 'candles_1m+'."),
    unit_tests: bool = typer.Option(
        False, "--unit-tests", help="Also run dbt's unit tests (CI does; the DAG does not)."
    ),
    docs: str = typer.Option(
        None, help="Also publish the dbt docs as one static page into this directory."
    ),
) -> None:
    """Run `dbt build`: the unified 1m series and 5m..1w candles, with their tests (the
    build_timeframes DAG's dbt_build task)."""
    seconds = jobs.build_timeframes(full_refresh=full_refresh, select=select, unit_tests=unit_tests)
    typer.echo(f"dbt build succeeded in {seconds:.1f} s")
    if docs:
        typer.echo(f"dbt docs published to {jobs.publish_docs(docs)}")


@app.command("source-freshness")
def source_freshness() -> None:
    """Run `dbt source freshness` (the build_timeframes DAG's source_freshness task)."""
    jobs.check_source_freshness()
    typer.echo("sources fresh")


@app.command()
def live(
    follow: bool = typer.Option(False, "--follow", "-f", help="Refresh until interrupted."),
    interval: float = typer.Option(5.0, help="Seconds between refreshes with --follow."),
    summary: bool = typer.Option(
        None,
        "--summary/--table",
        help="One summary line, or a line per symbol (default: the summary above 20 symbols).",
    ),
) -> None:
    """Show the newest candle of each symbol in market.candles_1m_live (a summary at ALL)."""
    from include.platform import live as live_view

    url = db.resolve_role_url(db.READER)
    live_view.follow(url, interval, typer.echo, rounds=None if follow else 1, summarize=summary)


@app.command("backfill-rest")
def backfill_rest(
    start: Start,
    end: End,
    symbol: Symbols = None,
    chunk_days: int = typer.Option(
        jobs.DEFAULT_CHUNK_DAYS,
        help="Days per job, rounded up to whole klines pages, as the DAG's mapped tasks.",
    ),
    no_resume: bool = typer.Option(False, "--no-resume", help="Refetch the whole range."),
) -> None:
    """Load official 1m klines from /api/v3/klines into market.klines_1m (resumable; the
    binance_backfill_rest DAG's plan and load tasks)."""
    fetched: dict[str, int] = {}
    changed: dict[str, int] = {}
    requests = weight = throttled = 0
    for job in jobs.plan_rest_chunks(symbol, start, end, chunk_days=chunk_days):
        done = jobs.run_rest_chunk(job, resume=not no_resume)
        for name, count in done["fetched"].items():
            fetched[name] = fetched.get(name, 0) + count
            changed[name] = changed.get(name, 0) + done["changed"][name]
        requests += done["requests"]
        weight += done["weight"]
        throttled += done["throttled_429"]
    for name, count in fetched.items():
        typer.echo(f"{name}: {count} klines fetched, {changed[name]} new or changed")
    typer.echo(f"{requests} requests, weight {weight}, {throttled} x 429")


def _echo_imports(batches: list[list[str]], **options: object) -> None:
    for batch in batches:
        for done in jobs.run_dump_files(batch, **options):
            state = "already imported, skipped" if done["skipped"] else f"{done['changed']} changed"
            typer.echo(f"{done['file']}: {done['rows']} rows, {done['candles']} candles, {state}")


@app.command("import-dumps")
def import_dumps(
    start: str = typer.Option(..., help="First day, UTC (2025-01-01)."),
    end: str = typer.Option(..., help="End day, exclusive."),
    symbol: Symbols = None,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", "-k", help="klines, trades, aggTrades.")
    ] = None,
    folder: str = typer.Option(None, help="A local folder of dumps: imports those instead."),
) -> None:
    """Download and import data.binance.vision's daily dumps of [start, end) (the
    binance_import_dumps DAG's list_files and import_files tasks)."""
    _echo_imports(jobs.plan_dump_files(symbol, kind or ["klines"], start, end, folder=folder))


@app.command("import-csv")
def import_csv(
    paths: Annotated[list[str], typer.Argument(help="Dump files, folders or URLs (zip or csv).")],
    symbol: str = typer.Option(None, "--symbol", "-s", help="Symbol, for files named otherwise."),
    force: bool = typer.Option(False, "--force", help="Reload files already imported."),
    no_checksum: bool = typer.Option(
        False,
        "--no-checksum",
        help="Import even when a dump's .CHECKSUM is missing, unreadable or malformed.",
    ),
) -> None:
    """Import data.binance.vision klines/trades/aggTrades dumps as exact 1m candles (the
    binance_import_dumps DAG's import_files task over the given files)."""
    batches = jobs.plan_dump_files(None, [], "", "", folder=paths)
    _echo_imports(batches, symbol=symbol, force=force, require_checksum=not no_checksum)


@app.command("bootstrap")
def bootstrap(
    days: int = typer.Option(2, help="Days of history to hold at start."),
    wait: float = typer.Option(
        150.0, help="Seconds to wait for the streamer's first closed candle (0: do not wait)."
    ),
    no_build: bool = typer.Option(False, "--no-build", help="Do not build the timeframes."),
) -> None:
    """History at start: the last days up to the streamer's first candle, then the timeframes."""
    from include.history import bootstrap as job

    # Progress on stdout, as lines (the log below it, on stderr): run.sh shows them.
    result = job.bootstrap(days=days, wait_seconds=wait, build=not no_build, echo=typer.echo)
    typer.echo(
        f"{len(result.symbols)} symbols: {result.fetched} klines fetched, "
        f"{len(result.live_from)} joined to their first live candle"
        + (f", timeframes built in {result.build_seconds:.1f} s" if result.build_seconds else "")
    )


@app.command("heal-gaps")
def heal_gaps(
    symbol: Symbols = None,
    max_minutes: int = typer.Option(
        jobs.DEFAULT_HEAL_MAX_MINUTES, help="Most minutes to fetch in one run."
    ),
    full: bool = typer.Option(
        False, "--full", help="Look at the whole history, not only since the last run's check."
    ),
) -> None:
    """Find missing minutes (recorded gaps and holes in the series) and fill them from REST
    (the binance_heal_gaps DAG's heal task)."""
    done = jobs.run_heal(symbol, max_minutes=max_minutes, full=full)
    for name, filled in done["filled"].items():
        typer.echo(
            f"{name}: {done['spans'][name]} gaps, {filled} minutes filled, "
            f"{done['unfillable'][name]} without a kline at Binance"
        )


@app.command("reconcile")
def reconcile(
    start: Start,
    end: End,
    symbol: Symbols = None,
    no_repair: bool = typer.Option(False, "--no-repair", help="Only list the differences."),
    no_build: bool = typer.Option(
        False, "--no-build", help="Do not rebuild the timeframes (the DAG leaves it to the Asset)."
    ),
    show: int = typer.Option(20, help="Differences to list (the rest are counted)."),
) -> None:
    """Compare analytics.candles_1m with Binance's klines field by field; repair and rebuild
    (the reconcile DAG's plan and compare_and_repair tasks, then build_timeframes).

    Exits 1 when a difference is left unrepaired.
    """
    done: list[dict[str, object]] = []
    clean = True
    for job in jobs.plan_reconcile(symbol, start, end):
        try:
            done.append(jobs.run_reconcile(job, repair=not no_repair))
        except jobs.DifferencesLeft as left:
            done.append(left.summary)
            clean = False
    differences = [d for summary in done for d in summary["differences"]]
    for line in differences[:show]:
        typer.echo(line)
    if len(differences) > show:
        typer.echo(f"... and {len(differences) - show} more differences")
    for summary in done:
        for name, compared in summary["compared"].items():
            repaired, left = summary["repaired"][name], summary["unrepaired"][name]
            typer.echo(
                f"{name}: {compared} official minutes compared, "
                f"{repaired} repaired, {left} left different"
            )
    if not no_build and any(sum(s["repaired"].values()) for s in done):
        jobs.build_timeframes()
        typer.echo("timeframes rebuilt")
    if not clean:
        raise typer.Exit(1)


@app.command("check")
def check(
    start: str = typer.Option(None, help="Window start, UTC (default: 24 hours before --end)."),
    end: str = typer.Option(None, help="Window end, exclusive, UTC (default: this minute)."),
    symbol: Symbols = None,
    expect_live: bool = typer.Option(
        None,
        "--expect-live/--no-expect-live",
        help="Require fresh live candles (default: when the streamer wrote in the last hour).",
    ),
) -> None:
    """Run the Great Expectations data-quality checks; exit 1 with a summary on failure (the
    data_quality DAG's check task)."""
    from include.quality import QualityCheckFailed

    try:
        done = jobs.data_quality(start, end, symbol, expect_live)
    except QualityCheckFailed as failed:
        typer.echo(failed.report.summary(), err=True)
        raise typer.Exit(1) from failed
    typer.echo(done["summary"])


@app.command("coverage")
def coverage(
    symbol: Annotated[
        list[str] | None,
        typer.Option(
            "--symbol", "-s", help="Symbol; repeat for several. Default: every symbol held."
        ),
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per symbol."),
) -> None:
    """Per symbol: first and last minute of analytics.candles_1m, holes (missing minutes no halt
    explains), halts, gaps left to heal, and where the minutes came from."""
    from include import coverage as held

    rows = held.coverage(db.resolve_role_url(db.READER), _held_symbols(symbol))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.as_json()))
    else:
        typer.echo(held.format_table(rows))


@app.command("export")
def export(
    start: Start,
    end: End,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the files.")],
    symbol: Annotated[
        list[str] | None,
        typer.Option(
            "--symbol", "-s", help="Symbol; repeat for several. Default or ALL: every symbol held."
        ),
    ] = None,
    interval: str = typer.Option("1m", help="1m 5m 15m 1h 4h 1d or 1w."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
) -> None:
    """Write candles of [start, end) to <out>/<SYMBOL>-<interval>.<format>, one file per symbol,
    streamed (exact decimals: decimal(38, 18) in Parquet, PostgreSQL's text in CSV)."""
    from include import export as exporter
    from include.platform.times import parse_utc

    url = db.resolve_role_url(db.READER)
    wanted = _held_symbols(symbol) or exporter.symbols_held(url, interval)
    for done in exporter.export(url, wanted, interval, parse_utc(start), parse_utc(end), out, fmt):
        typer.echo(f"{done.path}: {done.rows} candles")


def _held_symbols(given: list[str] | None) -> list[str] | None:
    """The symbols asked for, upper-cased; None for every symbol held (nothing given, or ALL)."""
    names = [name.strip().upper() for value in given or () for name in value.split(",")]
    names = [name for name in names if name]
    return None if not names or names == ["ALL"] else names


@app.command("airflow-pools")
def airflow_pools(
    path: str,
    limit: int = typer.Option(
        None, help="Binance's REQUEST_WEIGHT per minute, if not the documented 6000."
    ),
) -> None:
    """Write the Airflow pools file (binance_rest) for `airflow pools import PATH`."""
    from include.platform import rest_pool

    pools = rest_pool.pools_file(limit or rest_pool.DOCUMENTED_LIMIT)
    Path(path).write_text(json.dumps(pools, indent=2) + "\n")
    slots = pools[rest_pool.POOL]["slots"]
    typer.echo(f"pool {rest_pool.POOL}: {slots} slots")


@app.command("airflow-passwords", hidden=True)
def airflow_passwords(path: str) -> None:
    """Write Airflow's simple-auth passwords file, mode 0600: AIRFLOW_ADMIN_PASSWORD, else one
    generated into DATA_DIR/secrets/airflow-admin.password on the first start (printed then,
    and only then, so run.sh can show it once beside the UI's address)."""
    settings = get_settings()
    password = settings.secret("AIRFLOW_ADMIN_PASSWORD")
    if not password:
        kept = settings.data_dir / "secrets" / "airflow-admin.password"
        existed = kept.is_file() and kept.read_text().strip()
        password = pgserver.read_or_create_secret(kept)
        if not existed:
            typer.echo(
                f"Airflow login: {settings.airflow_admin_user} / {password} "
                f"(generated, kept in {kept})"
            )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({settings.airflow_admin_user: password}, out)
    target.chmod(0o600)


@app.command("airflow-grants")
def airflow_grants() -> None:
    """Let analytics_reader read Airflow's DAG and task outcomes (for Grafana), as the owner of
    Airflow's metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)."""
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not url:
        raise ValueError("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is not set")
    db.grant_airflow_reads(re.sub(r"^postgresql\+\w+:", "postgresql:", url))
    typer.echo(f"{db.READER} may read dag_run and task_instance")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded server (or reuse the running one) and print its URL."""
    settings = get_settings()
    if settings.database_url:
        typer.echo("DATABASE_URL is set: nothing to start")
        return
    typer.echo(db.resolve_database_url(settings))


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server cleanly."""
    stopped = pgserver.stop(db.embedded_pgdata(get_settings()))
    typer.echo("stopped" if stopped else "not running")


@db_app.command("url")
def db_url(
    database: str = typer.Option(
        None, help="Another database on the same server, created if missing."
    ),
    owner: str = typer.Option(
        None,
        help="With --database: the database is this login role's (created, its password kept "
        "in DATA_DIR/secrets), and the URL logs in as it.",
    ),
    role: str = typer.Option(
        None, help=f"The URL of one of the platform's roles ({', '.join(db.ROLES)})."
    ),
) -> None:
    """Print the platform database's URL (starts the embedded server if needed): the
    administrator's, or a role's, so each process can be given only its own."""
    url = db.resolve_database_url()
    if role:
        if role not in db.ROLES:
            raise ValueError(f"--role: {role!r} is not one of {', '.join(db.ROLES)}")
        url = db.role_url(url, role)
    elif database and owner:
        url = db.ensure_owned_database(url, database, owner)
    elif database:
        db.ensure_database(url, database)
        url = db.with_database(url, database)
    typer.echo(url)


# Every command answers a failure with one line: wrapped here once, where typer reads them.
for registered in (*app.registered_commands, *db_app.registered_commands):
    registered.callback = one_line_errors(registered.callback)

if __name__ == "__main__":
    app()
