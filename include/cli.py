"""The batch jobs as commands: `python -m include.cli --help`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import typer

from include import db, pgserver
from include.migrate import migrate as apply_migrations
from include.settings import env_file, get_settings
from include.times import parse_utc

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

F = TypeVar("F", bound=Callable[..., object])


def one_line_errors(func: F) -> F:
    """Turn any failure into a one-line reason on stderr and exit status 1."""

    @wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as err:  # the contract is one line, not a traceback
            logger.debug("command failed", exc_info=True)
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1) from err

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    """Configure logging once, for every command (each reads the settings, .env included)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@app.command()
@one_line_errors
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
@one_line_errors
def migrate() -> None:
    """Create or upgrade the platform's tables (safe to run twice)."""
    applied = apply_migrations(db.resolve_database_url())
    typer.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


@app.command()
@one_line_errors
def partitions(
    retention_days: int = typer.Option(
        None,
        "--live-retention-days",
        help="Drop market.candles_1m_live's months older than this (default: LIVE_RETENTION_DAYS, "
        "unset = keep every month).",
    ),
) -> None:
    """Create the coming months' partitions, empty the DEFAULT ones, apply live retention."""
    import psycopg

    from include import partitions as monthly

    days = retention_days if retention_days is not None else monthly.live_retention_days()
    with psycopg.connect(db.resolve_database_url(), autocommit=True) as conn:
        done = monthly.maintain(conn, retention_days=days)
    for table, made in done.created.items():
        typer.echo(f"{table}: {made} partition(s) created")
    if days is None:
        typer.echo("live retention: off (LIVE_RETENTION_DAYS unset)")
    else:
        dropped = " ".join(done.dropped) or "none"
        typer.echo(f"live retention ({days} days): dropped {dropped}")


@app.command("build-timeframes")
@one_line_errors
def build_timeframes(
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Rebuild every analytics.candles_<tf> table from scratch."
    ),
    select: str = typer.Option(None, help="A dbt selector, e.g. 'candles_1m+'."),
    docs: str = typer.Option(
        None, help="Also publish the dbt docs as one static page into this directory."
    ),
) -> None:
    """Run `dbt build`: the unified 1m series and 5m..1w candles, with their tests."""
    from pathlib import Path

    from include import timeframes

    result = timeframes.build_timeframes(full_refresh=full_refresh, select=select)
    typer.echo(f"dbt build succeeded in {result.seconds:.1f} s")
    if docs:
        typer.echo(f"dbt docs published to {timeframes.publish_docs(Path(docs))}")


@app.command()
@one_line_errors
def live(
    follow: bool = typer.Option(False, "--follow", "-f", help="Refresh until interrupted."),
    interval: float = typer.Option(5.0, help="Seconds between refreshes with --follow."),
) -> None:
    """Show the newest candle of each symbol in market.candles_1m_live."""
    from include import live as live_view

    live_view.follow(db.resolve_database_url(), interval, typer.echo, rounds=None if follow else 1)


@app.command("backfill-rest")
@one_line_errors
def backfill_rest(
    symbol: Annotated[
        list[str], typer.Option("--symbol", "-s", help="Symbol; repeat for several.")
    ],
    start: str = typer.Option(..., help="First minute, UTC (2025-01-01 or 2025-01-01T10:00)."),
    end: str = typer.Option(..., help="End, exclusive, UTC."),
    no_resume: bool = typer.Option(False, "--no-resume", help="Refetch the whole range."),
) -> None:
    """Load official 1m klines from /api/v3/klines into market.klines_1m (resumable)."""
    from include import backfill

    result = backfill.backfill_rest(symbol, parse_utc(start), parse_utc(end), resume=not no_resume)
    for name, fetched in result.fetched.items():
        typer.echo(f"{name}: {fetched} klines fetched, {result.changed[name]} new or changed")
    typer.echo(f"{result.requests} requests, weight {result.weight}, {result.throttled_429} x 429")


@app.command("import-csv")
@one_line_errors
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
    """Import data.binance.vision klines/trades/aggTrades dumps as exact 1m candles."""
    from include import dumps

    imported = dumps.import_files(
        paths, symbol=symbol, force=force, require_checksum=not no_checksum
    )
    for result in imported:
        state = "already imported, skipped" if result.skipped else f"{result.changed} changed"
        typer.echo(f"{result.file_name}: {result.rows} rows, {result.candles} candles, {state}")


@app.command("bootstrap")
@one_line_errors
def bootstrap(
    days: int = typer.Option(2, help="Days of history to hold at start."),
    wait: float = typer.Option(
        150.0, help="Seconds to wait for the streamer's first closed candle (0: do not wait)."
    ),
    no_build: bool = typer.Option(False, "--no-build", help="Do not build the timeframes."),
) -> None:
    """History at start: the last days up to the streamer's first candle, then the timeframes."""
    from include import bootstrap as job

    result = job.bootstrap(days=days, wait_seconds=wait, build=not no_build)
    typer.echo(
        f"{len(result.symbols)} symbols: {result.fetched} klines fetched, "
        f"{len(result.live_from)} joined to their first live candle"
        + (f", timeframes built in {result.build_seconds:.1f} s" if result.build_seconds else "")
    )


@app.command("heal-gaps")
@one_line_errors
def heal_gaps(
    symbol: Annotated[
        list[str] | None, typer.Option("--symbol", "-s", help="Default: SYMBOLS.")
    ] = None,
    max_minutes: int = typer.Option(200_000, help="Most minutes to fetch in one run."),
    full: bool = typer.Option(
        False, "--full", help="Look at the whole history, not only since the last run's check."
    ),
) -> None:
    """Find missing minutes (recorded gaps and holes in the series) and fill them from REST."""
    from include import heal

    result = heal.heal_gaps(symbol or None, max_minutes=max_minutes, full=full)
    for name, filled in result.filled.items():
        typer.echo(
            f"{name}: {result.spans[name]} gaps, {filled} minutes filled, "
            f"{result.unfillable[name]} without a kline at Binance"
        )


@app.command("reconcile")
@one_line_errors
def reconcile(
    start: str = typer.Option(..., help="First minute, UTC (2025-01-01 or 2025-01-01T10:00)."),
    end: str = typer.Option(..., help="End, exclusive, UTC."),
    symbol: Annotated[
        list[str] | None, typer.Option("--symbol", "-s", help="Default: SYMBOLS (ALL works).")
    ] = None,
    no_repair: bool = typer.Option(False, "--no-repair", help="Only list the differences."),
    no_build: bool = typer.Option(False, "--no-build", help="Do not rebuild the timeframes."),
    show: int = typer.Option(20, help="Differences to list (the rest are counted)."),
) -> None:
    """Compare analytics.candles_1m with Binance's klines field by field; repair and rebuild.

    Exits 1 when a difference is left unrepaired.
    """
    from include import reconcile as job

    result = job.reconcile(
        parse_utc(start),
        parse_utc(end),
        symbol or None,
        repair_mismatches=not no_repair,
        rebuild=not no_build,
    )
    for mismatch in result.mismatches[:show]:
        typer.echo(mismatch.describe())
    if len(result.mismatches) > show:
        typer.echo(f"... and {len(result.mismatches) - show} more differences")
    for name, compared in result.compared.items():
        typer.echo(
            f"{name}: {compared} official minutes compared, "
            f"{result.repaired[name]} repaired, {result.unrepaired[name]} left different"
        )
    if result.rebuilt:
        typer.echo("timeframes rebuilt")
    if not result.clean:
        raise typer.Exit(1)


@app.command("check")
@one_line_errors
def check(
    start: str = typer.Option(None, help="Window start, UTC (default: 24 hours before --end)."),
    end: str = typer.Option(None, help="Window end, exclusive, UTC (default: this minute)."),
    symbol: Annotated[
        list[str] | None, typer.Option("--symbol", "-s", help="Default: SYMBOLS.")
    ] = None,
    expect_live: bool = typer.Option(
        None,
        "--expect-live/--no-expect-live",
        help="Require fresh live candles (default: when the streamer wrote in the last hour).",
    ),
) -> None:
    """Run the Great Expectations data-quality checks; exit 1 with a summary on failure."""
    from include import quality

    window = quality.default_window(parse_utc(end) if end else None)
    if start:
        window = quality.Window(parse_utc(start), window.end)
    kwargs = {"symbols": symbol} if symbol else {}
    report = quality.run_checks(window=window, expect_live=expect_live, **kwargs)
    if not report.success:
        typer.echo(report.summary(), err=True)
        raise typer.Exit(1)
    typer.echo(report.summary())


@app.command("airflow-pools")
@one_line_errors
def airflow_pools(
    path: str,
    limit: int = typer.Option(
        None, help="Binance's REQUEST_WEIGHT per minute, if not the documented 6000."
    ),
) -> None:
    """Write the Airflow pools file (binance_rest) for `airflow pools import PATH`."""
    import json
    from pathlib import Path

    from include import rest_pool

    pools = rest_pool.pools_file(limit or rest_pool.DOCUMENTED_LIMIT)
    Path(path).write_text(json.dumps(pools, indent=2) + "\n")
    slots = pools[rest_pool.POOL]["slots"]
    typer.echo(f"pool {rest_pool.POOL}: {slots} slots")


@app.command("airflow-passwords", hidden=True)
@one_line_errors
def airflow_passwords(path: str) -> None:
    """Write Airflow's simple-auth passwords file from AIRFLOW_ADMIN_USER/PASSWORD, mode 0600."""
    import json
    import os
    from pathlib import Path

    settings = get_settings()
    password = settings.secret("AIRFLOW_ADMIN_PASSWORD")
    if not password:
        raise ValueError("AIRFLOW_ADMIN_PASSWORD is empty")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({settings.airflow_admin_user: password}, out)
    target.chmod(0o600)


@db_app.command("start")
@one_line_errors
def db_start() -> None:
    """Start the embedded server (or reuse the running one) and print its URL."""
    settings = get_settings()
    if settings.database_url:
        typer.echo("DATABASE_URL is set: nothing to start")
        return
    typer.echo(db.resolve_database_url(settings))


@db_app.command("stop")
@one_line_errors
def db_stop() -> None:
    """Stop the embedded server cleanly."""
    stopped = pgserver.stop(db.embedded_pgdata(get_settings()))
    typer.echo("stopped" if stopped else "not running")


@db_app.command("url")
@one_line_errors
def db_url(
    database: str = typer.Option(
        None, help="Another database on the same server, created if missing."
    ),
) -> None:
    """Print the platform database's URL (starts the embedded server if needed)."""
    url = db.resolve_database_url()
    if database:
        db.ensure_database(url, database)
        url = db.with_database(url, database)
    typer.echo(url)


if __name__ == "__main__":
    app()
