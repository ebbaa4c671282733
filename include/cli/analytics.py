"""The candles as built and read: dbt's build and freshness, the live view, the quality
checks, coverage and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from include import jobs
from include.cli.common import End, Start, Symbols
from include.platform import db


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
    market: Annotated[
        list[str] | None,
        typer.Option(
            "--market",
            help="spot (analytics), usdm (analytics_usdm) or coinm; repeatable; default MARKETS.",
        ),
    ] = None,
) -> None:
    """Run `dbt build`: the unified 1m series and 5m..1w candles, with their tests, of each
    market (the build_timeframes DAG's dbt_build task)."""
    seconds = jobs.build_timeframes(
        full_refresh=full_refresh, select=select, unit_tests=unit_tests, markets=market
    )
    typer.echo(f"dbt build succeeded in {seconds:.1f} s")
    if docs:
        typer.echo(f"dbt docs published to {jobs.publish_docs(docs)}")


def source_freshness() -> None:
    """Run `dbt source freshness` (the build_timeframes DAG's source_freshness task)."""
    jobs.check_source_freshness()
    typer.echo("sources fresh")


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


def check(
    start: str = typer.Option(None, help="Window start, UTC (default: 24 hours before --end)."),
    end: str = typer.Option(None, help="Window end, exclusive, UTC (default: this minute)."),
    symbol: Symbols = None,
    expect_live: bool = typer.Option(
        None,
        "--expect-live/--no-expect-live",
        help="Require fresh live candles (default: when the streamer wrote in the last hour).",
    ),
    market: Annotated[
        list[str] | None,
        typer.Option(
            "--market",
            help="spot, usdm or coinm (the same checks over its schemas); repeatable; default "
            "MARKETS.",
        ),
    ] = None,
) -> None:
    """Run the Great Expectations data-quality checks; exit 1 with a summary on failure (the
    data_quality DAG's check task)."""
    from include.quality import QualityCheckFailed

    try:
        done = jobs.data_quality(start, end, symbol, expect_live, markets=market)
    except QualityCheckFailed as failed:
        typer.echo(failed.report.summary(), err=True)
        raise typer.Exit(1) from failed
    for name, outcome in done.get("markets", {"": done}).items():
        typer.echo(f"{name}: {outcome['summary']}" if name else outcome["summary"])


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
    interval: str = typer.Option(
        "1m", help="Any of Binance's: 1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M."
    ),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
    floats: bool = typer.Option(
        False, "--floats", help="float64 columns for pandas (they round; exact decimals default)."
    ),
) -> None:
    """Write candles of [start, end) to <out>/<SYMBOL>-<interval>.<format>, one file per symbol,
    streamed (exact decimals: decimal(38, 18) in Parquet, PostgreSQL's text in CSV)."""
    from include import export as exporter
    from include.platform.times import parse_utc

    url = db.resolve_role_url(db.READER)
    wanted = _held_symbols(symbol)  # None: every symbol held, which export reads once
    for done in exporter.export(
        url, wanted, interval, parse_utc(start), parse_utc(end), out, fmt, floats=floats
    ):
        typer.echo(f"{done.path}: {done.rows} candles")


def _held_symbols(given: list[str] | None) -> list[str] | None:
    """The symbols asked for, upper-cased; None for every symbol held (nothing given, or ALL)."""
    names = [name.strip().upper() for value in given or () for name in value.split(",")]
    names = [name for name in names if name]
    return None if not names or names == ["ALL"] else names
