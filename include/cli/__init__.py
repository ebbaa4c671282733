"""The batch jobs as commands: `python -m include.cli --help`.

The commands live by subject (admin, history, analytics); this module registers them, in the
order `--help` lists them, each answering a failure with one line.
"""

from __future__ import annotations

import logging
import sys

import typer

from include.cli import admin, analytics, history
from include.cli.common import one_line_errors

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


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    """Configure logging once, for every command (each reads the settings, .env included)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


for command, name in (
    (admin.config, None),
    (admin.migrate, None),
    (admin.partitions, None),
    (admin.rebuild_indexes, "rebuild-indexes"),
    (analytics.build_timeframes, "build-timeframes"),
    (analytics.source_freshness, "source-freshness"),
    (analytics.live, None),
    (history.backfill_rest, "backfill-rest"),
    (history.import_dumps, "import-dumps"),
    (history.import_csv, "import-csv"),
    (history.bootstrap, "bootstrap"),
    (history.heal_gaps, "heal-gaps"),
    (history.reconcile, "reconcile"),
    (analytics.check, "check"),
    (analytics.coverage, "coverage"),
    (analytics.export, "export"),
    (admin.airflow_pools, "airflow-pools"),
    (admin.airflow_grants, "airflow-grants"),
):
    app.command(name)(one_line_errors(command))
app.command("airflow-passwords", hidden=True)(one_line_errors(admin.airflow_passwords))
for command, name in ((admin.db_start, "start"), (admin.db_stop, "stop"), (admin.db_url, "url")):
    db_app.command(name)(one_line_errors(command))

__all__ = ["app"]
