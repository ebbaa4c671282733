"""Every batch job once: the DAG tasks and the CLI commands call these same functions.

A job takes JSON-friendly arguments (a DAG's params, a command's options) and returns its
typed result (backfill, heal, reconcile, dump imports: the job's dataclass, turned into a dict
only at the XCom edge, by the DAG task's ``.summary()``; the quality run's outcome is that dict
already, as the CLI and the task show it). Fanned-out jobs come as a plan
(the list of mapped jobs) and a run (one of them); the CLI runs the plan's jobs in order, the
DAG maps a task over them. So `python -m include.cli <job>` does what the DAG task does:
same symbol resolution (empty = SYMBOLS, ALL = every TRADING symbol), same batching, same
defaults, same log lines, same result.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from include.platform import markets as markets_of
from include.platform.settings import get_settings, parse_markets
from include.platform.symbols import resolve_symbols
from include.platform.times import parse_utc

if TYPE_CHECKING:
    from include.history.dumps.load import ImportResult
    from include.history.results import BackfillResult, HealResult, ReconcileResult
    from include.quality.checks import Window
    from include.quality.report import QualityReport

logger = logging.getLogger(__name__)


def market_names(asked: Sequence[str] | str | None) -> tuple[str, ...]:
    """The markets a job runs: those asked for (a name or several), else MARKETS."""
    if isinstance(asked, str):
        asked = [asked]
    return parse_markets(" ".join(asked)) if asked else get_settings().markets


T = TypeVar("T")


# Mapped tasks per run at most: past it each task gets a batch. Airflow refuses more than 1024,
# and each task costs seconds of a process start on a worker while only two of a DAG's run at
# once (max_active_tis_per_dag): at ALL's ~2,000 symbols, 256 tasks of 8 symbols spent most of
# their 9 s each starting up (bench/platform_bench.py, 2026-11-28); 32 batches of ~63 do the
# same work with an eighth of the starts. Every job resumes, so a retry redoes little.
MAX_MAPPED_TASKS = 32
DEFAULT_CHUNK_DAYS = 7
DEFAULT_HEAL_MAX_MINUTES = 200_000


def batched(items: Sequence[T], max_batches: int = MAX_MAPPED_TASKS) -> list[list[T]]:
    """items cut into at most max_batches consecutive batches of near-equal size."""
    size = max(1, -(-len(items) // max_batches))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _range(start: str, end: str) -> tuple[datetime, datetime]:
    first, last = parse_utc(start), parse_utc(end)
    if last <= first:
        raise ValueError(f"empty range {start} .. {end}")
    return first, last


# --- binance_backfill_rest / backfill-rest ------------------------------------------------


def plan_rest_chunks(
    symbols: Sequence[str] | None,
    start: str,
    end: str,
    *,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    markets: Sequence[str] | str | None = None,
    series: Sequence[str] | None = None,
) -> list[dict[str, object]]:
    """Jobs over [start, end): per market (``markets``, else MARKETS), per chunk of chunk_days,
    a batch of symbols each (those given, else the market's SYMBOLS, USDM_SYMBOLS or
    COINM_SYMBOLS), with the series asked for (a futures market's: all of them unless given).

    A chunk is chunk_days rounded up to whole klines pages (7 days: 11,000 minutes on spot), so
    only the range's last chunk ends on a partial page. A batch holds one symbol unless there
    are more jobs than the market's share of MAX_MAPPED_TASKS (SYMBOLS=ALL); chunks are longer
    than chunk_days when the range holds more than that share of them.
    """
    names = market_names(markets)
    share = max(1, MAX_MAPPED_TASKS // len(names))
    first, last = _range(start, end)
    jobs: list[dict[str, object]] = []
    for name in names:
        venue = markets_of.market(name)
        jobs += _plan_market(venue, symbols, first, last, chunk_days, series, share)
    return jobs


def _plan_market(
    venue: markets_of.Market,
    symbols: Sequence[str] | None,
    first: datetime,
    last: datetime,
    chunk_days: int,
    series: Sequence[str] | None,
    max_tasks: int,
) -> list[dict[str, object]]:
    """plan_rest_chunks' jobs of one market, at most about max_tasks of them."""
    from include.history.series import parse_series

    # Years of history in days (or weeks of seven-day chunks past five years) would make more
    # chunks than Airflow maps, even one symbol batch each: longer chunks then.
    chunk_days = max(chunk_days, math.ceil((last - first) / timedelta(days=max_tasks)))
    # Whole klines pages: a chunk of 7 days (10,080 minutes) would end on a page of 80 minutes,
    # which weighs as much as a full one, about 9% more weight over a backfill of ALL.
    page = venue.klines_page
    step = timedelta(minutes=-(-chunk_days * 1440 // page) * page)
    chunks = []
    cursor = first
    while cursor < last:
        stop = min(cursor + step, last)
        chunks.append((cursor, stop))
        cursor = stop
    names = resolve_symbols(symbols, market=venue)
    per_chunk = max(1, max_tasks // len(chunks))
    wanted = parse_series(series, venue)  # a futures-only series of spot is refused here
    # A spot job is what it always was; a futures job names its market and series.
    extra = {} if venue.name == "spot" else {"market": venue.name, "series": list(wanted)}
    return [
        {"symbols": group, "start": a.isoformat(), "end": b.isoformat(), **extra}
        for group in batched(names, per_chunk)
        for a, b in chunks
    ]


def run_rest_chunk(job: dict[str, object], *, resume: bool = True) -> BackfillResult:
    """Backfill one planned job; per symbol the klines fetched and the rows new or changed."""
    from include.history import backfill

    names = job.get("symbols") or [job["symbol"]]
    result = backfill.backfill_rest(
        names,
        parse_utc(job["start"]),
        parse_utc(job["end"]),
        resume=resume,
        market_name=str(job.get("market") or "spot"),
        series=job.get("series"),
    )
    # Each symbol's counts were logged once, by backfill_rest.
    return result


def live_retention(
    days: int | None = None, *, database_url: str | None = None
) -> dict[str, object]:
    """The partitions ahead, the DEFAULT ones emptied, and the live retention: the days of
    market.candles_1m_live that ended more than ``days`` ago (None: LIVE_RETENTION_DAYS; 0: keep
    all) and whose every minute has its kline are dropped. binance_backfill_rest runs it once
    its klines landed, as history_loader; ``include.cli partitions`` as the administrator."""
    import psycopg

    from include.platform import db, partitions

    days = partitions.live_retention_days() if days is None else days
    url = database_url or db.resolve_role_url(db.LOADER)
    with psycopg.connect(url, autocommit=True) as conn:
        done = partitions.maintain(conn, retention_days=days or None)
    return {
        "days": days or 0,
        "created": done.created,
        "dropped": done.dropped,
        "kept": done.kept,
        "deferred": done.deferred,
    }


def rebuild_indexes(kind: str, *, database_url: str | None = None) -> dict[str, object]:
    """The finished months' index rebuilds (include.platform.index_rebuilds) of every market's
    ``kind``: 'klines' as history_loader (binance_backfill_rest, after the live retention),
    'marts' as dbt_builder (build_timeframes, after the build); both as the administrator for
    ``include.cli rebuild-indexes``."""
    import psycopg

    from include.platform import db, index_rebuilds

    role = db.LOADER if kind == "klines" else db.BUILDER
    url = database_url or db.resolve_role_url(role)
    with psycopg.connect(url, autocommit=True) as conn:
        tables = index_rebuilds.tables_of(conn, kind)
        return index_rebuilds.rebuild_finished_months(conn, tables).summary()


# --- binance_import_dumps / import-dumps, import-csv ---------------------------------------


def plan_dump_files(
    symbols: Sequence[str] | None,
    kinds: Sequence[str],
    start: str,
    end: str,
    *,
    folder: str | Sequence[str] | None = None,
    markets: Sequence[str] | str | None = None,
) -> list[list[str]]:
    """The files to import, in batches: local dumps (a folder, files or URLs), or the daily
    URLs of [start, end) of each market (``markets``, else MARKETS; each market's symbols
    unless given). A futures market's klines come with its mark, index and premium klines; its
    trades and aggTrades are listed as asked, but COIN-M's aggTrades (which cannot tell the
    base volume its klines sum: import_file refuses them) are not.

    A batch holds one file unless there are more files than MAX_MAPPED_TASKS (SYMBOLS=ALL).
    """
    from include.history.dumps.names import FUTURES_KINDS, PRICE_KINDS, dump_urls, expand_inputs

    if folder:
        return batched(expand_inputs([folder] if isinstance(folder, str) else folder))
    if isinstance(markets, str):
        markets = [markets]
    names = market_names(markets)
    first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    urls: list[str] = []
    for venue in map(markets_of.market, names):
        wanted = list(kinds)
        if venue.is_futures:
            trades = ("trades",) if venue.inverse else ("trades", "aggTrades")
            wanted = [k for k in wanted if k in FUTURES_KINDS or k in trades]
            if "klines" in wanted:
                wanted = list(dict.fromkeys([*wanted, *PRICE_KINDS]))
        urls += dump_urls(
            resolve_symbols(symbols, market=venue),
            wanted,
            first,
            max(last, first + timedelta(1)),
            market=venue,
        )
    return batched(urls)


def run_dump_files(
    specs: Sequence[str],
    *,
    symbol: str | None = None,
    force: bool = False,
    require_checksum: bool = True,
    market: str | None = None,
) -> list[ImportResult]:
    """Import a batch of dumps, each in its own transaction; one result per file (each of the
    market its path names unless ``market``).

    A file already imported with the same checksum is skipped, so a retried batch redoes only
    the files after the one that failed.
    """
    from include.history.dumps.fetch import http_client
    from include.history.dumps.load import import_file

    out: list[ImportResult] = []
    with http_client() as http:
        for spec in specs:
            result = import_file(
                spec,
                symbol=symbol,
                force=force,
                http=http,
                require_checksum=require_checksum,
                market=market,
            )
            logger.info("%s", import_line(result))
            out.append(result)
    return out


def import_line(done: ImportResult) -> str:
    """One imported file's line, for the task log and the CLI."""
    if done.untraded:
        state = "no trading in its period (Binance has no kline there): nothing to import"
    elif done.skipped:
        state = "already imported, skipped"
    else:
        state = f"{done.changed} changed"
    return f"{done.file_name}: {done.rows} rows, {done.candles} candles, {state}"


# --- binance_heal_gaps / heal-gaps -----------------------------------------------------------


def run_heal(
    symbols: Sequence[str] | None,
    *,
    max_minutes: int = DEFAULT_HEAL_MAX_MINUTES,
    full: bool = False,
    markets: Sequence[str] | None = None,
) -> HealResult:
    """Heal gaps of each market (``markets``, else MARKETS); per symbol the gaps found, minutes
    filled and minutes Binance has no kline for (a futures market's symbols as "usdm BTCUSDT")."""
    from include.history import heal

    total = heal.HealResult()
    for name in market_names(markets):
        result = heal.heal_gaps(symbols or None, max_minutes=max_minutes, full=full, market=name)
        # Each symbol that had gaps was logged once, by heal_gaps.
        total.add(result, prefix="" if name == "spot" else f"{name} ")
    return total


# --- reconcile / reconcile -----------------------------------------------------------------


class DifferencesLeft(RuntimeError):
    """A reconcile job left differences unrepaired; .result is the job's whole result."""

    def __init__(self, result: ReconcileResult) -> None:
        differences = [m.describe() for m in result.mismatches]
        extra = [d for d in differences if " extra:" in d][:5]
        left = extra or differences[:5]
        super().__init__(f"differences left unrepaired: {'; '.join(left)}")
        self.result = result


def plan_reconcile(
    symbols: Sequence[str] | None,
    start: str,
    end: str,
    *,
    markets: Sequence[str] | None = None,
) -> list[dict[str, object]]:
    """The reconcile jobs: batches of symbols over [start, end), for each market (``markets``,
    else MARKETS; a futures market's jobs name it)."""
    first, last = _range(start, end)
    names = market_names(markets)
    return [
        {
            "symbols": group,
            "start": first.isoformat(),
            "end": last.isoformat(),
            **({} if name == "spot" else {"market": name}),
        }
        for name in names
        for group in batched(resolve_symbols(symbols, market=markets_of.market(name)))
    ]


def run_reconcile(job: dict[str, object], *, repair: bool = True) -> ReconcileResult:
    """Reconcile one planned job without rebuilding (build_timeframes follows the Asset; the
    CLI runs it after the jobs); raise DifferencesLeft when some are left unrepaired."""
    from include.history import reconcile

    result = reconcile.reconcile(
        parse_utc(job["start"]),
        parse_utc(job["end"]),
        job["symbols"],
        repair_mismatches=repair,
        rebuild=False,
        market=str(job.get("market") or "spot"),
    )
    if not result.clean:
        raise DifferencesLeft(result)
    return result


# --- build_timeframes / build-timeframes, source-freshness -----------------------------------


def build_timeframes(
    *,
    full_refresh: bool = False,
    select: str | None = None,
    unit_tests: bool = False,
    markets: Sequence[str] | None = None,
) -> float:
    """The incremental `dbt build` of each market (``markets``, else MARKETS), one after the
    other (unit tests only on request: CI runs them); their seconds."""
    from include import timeframes

    seconds = 0.0
    for name in market_names(markets):
        result = timeframes.build_timeframes(
            full_refresh=full_refresh, select=select, unit_tests=unit_tests, market=name
        )
        logger.info("dbt build of %s succeeded in %.1f s", name, result.seconds)
        seconds += result.seconds
    return seconds


def check_source_freshness() -> None:
    """`dbt source freshness`: raise when the live table lags while the streamer is expected."""
    from include import timeframes

    timeframes.check_source_freshness()


def publish_docs(out_dir: str | None = None) -> str:
    """Publish the dbt docs as one static page (default: DATA_DIR/dbt_docs); its path."""
    from include import timeframes

    target = timeframes.publish_docs(Path(out_dir) if out_dir else timeframes.docs_dir())
    logger.info("dbt docs published to %s", target)
    return str(target)


# --- data_quality / check ------------------------------------------------------------------


def data_quality(
    start: str | None,
    end: str | None,
    symbols: Sequence[str] | None,
    expect_live: bool | None,
    *,
    interval_start: datetime | None = None,
    interval_end: datetime | None = None,
    run_after: datetime | None = None,
    markets: Sequence[str] | None = None,
) -> dict[str, object]:
    """Run every check over the window, for each market (``markets``, else MARKETS); raise
    QualityCheckFailed (its message the summary) on a defect of any, once all have run.

    The window: start / end when given, else a DAG run's data interval when it has a length,
    else the 24 hours before run_after (default: now), or before the market's current minute
    when the data runs ahead of the host's clock (quality.market_minute).
    """
    from include import quality

    window = quality.run_window(
        start, end, interval_start, interval_end, run_after, market_minute=quality.market_minute()
    )
    kwargs = {"symbols": list(symbols)} if symbols else {}
    names = market_names(markets)
    done: dict[str, dict[str, object]] = {}
    failed = None
    for name in names:
        report = quality.run_checks(window=window, expect_live=expect_live, market=name, **kwargs)
        for line in report.summary().splitlines():
            logger.info("%s%s", "" if name == "spot" else f"{name}: ", line)
        logger.info("Data Docs: %s", report.data_docs)
        if not report.success and failed is None:
            failed = report
        done[name] = _quality_outcome(report, window, name)
    if failed is not None:
        raise quality.QualityCheckFailed(failed)
    first, *others = done.values()
    # One market's outcome as it always was; the others' beside it.
    return {**first, "markets": done} if others else first


def _quality_outcome(report: QualityReport, window: Window, market: str) -> dict[str, object]:
    """One market's run as the task's XCom and the CLI show it."""
    from include import quality

    live = markets_of.market(market).served_text(quality.checks.LIVE_TABLE)
    return {
        "window": str(window),
        "expectations": len(report.results),
        "rows": sum(report.rows_checked.values()),
        # Live rows inside the window: whether this run checked what the streamer wrote.
        "live_minutes": report.rows_checked.get(live, 0),
        # Per check, "name table": [rows compared, rows deferred to a later run].
        "counts": {
            f"{name} {table}": list(counted) for (name, table), counted in report.counts().items()
        },
        "data_docs": report.data_docs,
        "summary": report.summary(),
    }
