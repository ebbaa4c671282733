"""The batch jobs as commands: `python -m include.cli --help`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

import typer

from include import db, pgserver
from include.migrate import migrate as apply_migrations
from include.settings import get_settings

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
    """Configure logging once, for every command."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@app.command()
@one_line_errors
def migrate() -> None:
    """Create or upgrade the platform's tables (safe to run twice)."""
    applied = apply_migrations(db.resolve_database_url())
    typer.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


@app.command()
@one_line_errors
def live(
    follow: bool = typer.Option(False, "--follow", "-f", help="Refresh until interrupted."),
    interval: float = typer.Option(5.0, help="Seconds between refreshes with --follow."),
) -> None:
    """Show the newest candle of each symbol in market.candles_1m_live."""
    from include import live as live_view

    live_view.follow(db.resolve_database_url(), interval, typer.echo, rounds=None if follow else 1)


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
