"""History: the REST backfill, dump imports, the bootstrap, heal-gaps and reconcile."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from include import jobs
from include.cli.common import End, Start, Symbols

if TYPE_CHECKING:
    from include.history.results import ReconcileResult


def backfill_rest(
    start: Start,
    end: End,
    symbol: Symbols = None,
    chunk_days: int = typer.Option(
        jobs.DEFAULT_CHUNK_DAYS,
        help="Days per job, rounded up to whole klines pages, as the DAG's mapped tasks.",
    ),
    no_resume: bool = typer.Option(False, "--no-resume", help="Refetch the whole range."),
    market: Annotated[
        list[str] | None,
        typer.Option(
            "--market",
            help="spot, usdm (USDⓈ-M futures: /fapi, market_usdm) or coinm (/dapi, "
            "market_coinm); repeatable; default MARKETS.",
        ),
    ] = None,
    series: Annotated[
        list[str] | None,
        typer.Option(
            "--series",
            help="klines (the default), and on futures mark, index, premium, funding, or all.",
        ),
    ] = None,
) -> None:
    """Load official 1m klines from /api/v3/klines into market.klines_1m (a futures market's
    from its own REST into its own schema, and its price klines and funding with --series;
    resumable; the binance_backfill_rest DAG's plan and load tasks)."""
    counts: dict[tuple[str, str], list[int]] = {}
    requests = weight = throttled = 0
    jobs_planned = jobs.plan_rest_chunks(
        symbol, start, end, chunk_days=chunk_days, markets=market, series=series
    )
    for job in jobs_planned:
        done = jobs.run_rest_chunk(job, resume=not no_resume)
        lines = {"klines": {s: (n, done.changed[s]) for s, n in done.fetched.items()}}
        lines.update(done.series)
        for kind, by_symbol in lines.items():
            for name, (got, new) in by_symbol.items():
                total = counts.setdefault((name, kind), [0, 0])
                total[0] += got
                total[1] += new
        requests += done.requests
        weight += done.weight
        throttled += done.throttled_429
    for (name, kind), (got, new) in counts.items():
        what = "klines" if kind == "klines" else f"{kind} rows"
        typer.echo(f"{name}: {got} {what} fetched, {new} new or changed")
    typer.echo(f"{requests} requests, weight {weight}, {throttled} x 429")


def _echo_imports(batches: list[list[str]], **options: object) -> None:
    for batch in batches:
        for done in jobs.run_dump_files(batch, **options):
            typer.echo(jobs.import_line(done))


def import_dumps(
    start: str = typer.Option(..., help="First day, UTC (2025-01-01)."),
    end: str = typer.Option(..., help="End day, exclusive."),
    symbol: Symbols = None,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", "-k", help="klines, trades, aggTrades.")
    ] = None,
    folder: str = typer.Option(None, help="A local folder of dumps: imports those instead."),
    market: Annotated[
        list[str] | None,
        typer.Option(
            "--market",
            help="spot, usdm, coinm (a futures market's klines come with its mark, index and "
            "premium klines); repeatable; default MARKETS.",
        ),
    ] = None,
) -> None:
    """Download and import data.binance.vision's daily dumps of [start, end) (the
    binance_import_dumps DAG's list_files and import_files tasks)."""
    _echo_imports(
        jobs.plan_dump_files(symbol, kind or ["klines"], start, end, folder=folder, markets=market)
    )


def import_csv(
    paths: Annotated[list[str], typer.Argument(help="Dump files, folders or URLs (zip or csv).")],
    symbol: str = typer.Option(None, "--symbol", "-s", help="Symbol, for files named otherwise."),
    force: bool = typer.Option(False, "--force", help="Reload files already imported."),
    no_checksum: bool = typer.Option(
        False,
        "--no-checksum",
        help="Import even when a dump's .CHECKSUM is missing, unreadable or malformed.",
    ),
    market: str = typer.Option(
        None,
        "--market",
        help="spot, usdm or coinm, for files outside data.binance.vision's folders (default: "
        "the market their path names, else spot).",
    ),
) -> None:
    """Import data.binance.vision klines/trades/aggTrades dumps as exact 1m candles (the
    binance_import_dumps DAG's import_files task over the given files)."""
    batches = jobs.plan_dump_files(None, [], "", "", folder=paths)
    _echo_imports(
        batches, symbol=symbol, force=force, require_checksum=not no_checksum, market=market
    )


def bootstrap(
    days: int = typer.Option(2, help="Days of history to hold at start."),
    wait: float = typer.Option(
        150.0, help="Seconds to wait for the streamer's first closed candle (0: do not wait)."
    ),
    no_build: bool = typer.Option(False, "--no-build", help="Do not build the timeframes."),
) -> None:
    """History at start: the last days up to the streamer's first candle, then the timeframes."""
    from include.history import bootstrap as job
    from include.platform.markets import market as market_of
    from include.platform.settings import get_settings

    # Each market of MARKETS in turn (spot first); progress on stdout, as lines (the log below
    # it, on stderr): run.sh shows them.
    for name in get_settings().markets:
        venue = market_of(name)
        result = job.bootstrap(
            days=days, wait_seconds=wait, build=not no_build, echo=typer.echo, market=venue
        )
        typer.echo(
            f"{'' if name == 'spot' else name + ': '}{len(result.symbols)} symbols: "
            f"{result.fetched} klines fetched, "
            f"{len(result.live_from)} joined to their first live candle"
            + (
                f", timeframes built in {result.build_seconds:.1f} s"
                if result.build_seconds
                else ""
            )
        )


def heal_gaps(
    symbol: Symbols = None,
    max_minutes: int = typer.Option(
        jobs.DEFAULT_HEAL_MAX_MINUTES, help="Most minutes to fetch in one run."
    ),
    full: bool = typer.Option(
        False, "--full", help="Look at the whole history, not only since the last run's check."
    ),
    market: Annotated[
        list[str] | None,
        typer.Option("--market", help="spot, usdm or coinm; repeatable; default MARKETS."),
    ] = None,
) -> None:
    """Find missing minutes (recorded gaps and holes in the series) and fill them from REST
    (the binance_heal_gaps DAG's heal task), in each market."""
    done = jobs.run_heal(symbol, max_minutes=max_minutes, full=full, markets=market)
    for name, filled in done.filled.items():
        typer.echo(
            f"{name}: {done.spans[name]} gaps, {filled} minutes filled, "
            f"{done.unfillable[name]} without a kline at Binance"
        )


def reconcile(
    start: Start,
    end: End,
    symbol: Symbols = None,
    no_repair: bool = typer.Option(False, "--no-repair", help="Only list the differences."),
    no_build: bool = typer.Option(
        False, "--no-build", help="Do not rebuild the timeframes (the DAG leaves it to the Asset)."
    ),
    show: int = typer.Option(20, help="Differences to list (the rest are counted)."),
    market: Annotated[
        list[str] | None,
        typer.Option("--market", help="spot, usdm or coinm; repeatable; default MARKETS."),
    ] = None,
) -> None:
    """Compare analytics.candles_1m with Binance's klines field by field; repair and rebuild
    (the reconcile DAG's plan and compare_and_repair tasks, then build_timeframes).

    Exits 1 when a difference is left unrepaired.
    """
    done: list[ReconcileResult] = []
    clean = True
    for job in jobs.plan_reconcile(symbol, start, end, markets=market):
        try:
            done.append(jobs.run_reconcile(job, repair=not no_repair))
        except jobs.DifferencesLeft as left:
            done.append(left.result)
            clean = False
    differences = [m.describe() for result in done for m in result.mismatches]
    for line in differences[:show]:
        typer.echo(line)
    if len(differences) > show:
        typer.echo(f"... and {len(differences) - show} more differences")
    for result in done:
        for name, compared in result.compared.items():
            repaired, left = result.repaired[name], result.unrepaired[name]
            before = result.before_history.get(name, 0)
            label = name if result.market == "spot" else f"{result.market} {name}"
            typer.echo(
                f"{label}: {compared} official minutes compared, "
                f"{repaired} repaired, {left} left different"
                + (f"; {before} minutes before its history not compared" if before else "")
            )
    if not no_build and any(sum(result.repaired.values()) for result in done):
        jobs.build_timeframes()
        typer.echo("timeframes rebuilt")
    if not clean:
        raise typer.Exit(1)
