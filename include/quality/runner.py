"""Run every check of include/quality/checks.py through Great Expectations and build Data Docs."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from include.platform import db, markets
from include.platform.live import STREAMER_RECENT, streamer_writing
from include.platform.markets import SPOT, Market
from include.platform.settings import get_settings
from include.platform.symbols import requested_symbols
from include.platform.times import parse_utc
from include.quality.checks import (
    CANDLE_TABLES,
    DEFAULT_MAX_LIVE_AGE,
    GAPS_TABLE,
    LIVE_TABLE,
    MINUTES_TABLE,
    PARTS_TABLE,
    RECONCILE_TABLE,
    Check,
    Window,
    all_checks,
    load_sql,
    render,
)
from include.quality.report import CheckResult, QualityReport

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(hours=24)
DATASOURCE = "platform"
CHECKPOINT = "data_quality"
DOCS_SITE = "local_site"
# Validation results kept (and shown in Data Docs), in runs: four hours of the 5-minute DAG. GX
# reads every stored result to build the Data Docs index, so an unbounded store made each run
# slower than the one before it (about 0.13 s more per run already stored).
DOCS_KEEP_RUNS = 48
# The GX datasource reads its URL from this variable, so no password lands in gx/*.yml.
URL_VARIABLE = "QUALITY_GX_DATABASE_URL"
# Freshness is judged automatically only when the window reaches the present and the streamer
# wrote a live row this recently: a platform without a streamer is not "stale".
AUTO_LIVE_RECENT = STREAMER_RECENT
AUTO_LIVE_PRESENT = timedelta(minutes=5)
# The check whose tally is the rows of its table in the window (the report's count of them).
TALLIES_MINUTES = "continuity_minutes"
_UNSET: Any = object()


def default_window(
    now: datetime | None = None,
    length: timedelta = DEFAULT_WINDOW,
    *,
    market_minute: datetime | None = None,
) -> Window:
    """The `length` (24 hours) ending at the start of the current minute: the host's, or the
    market's when the data shows it ahead (market_minute, see market_minute())."""
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    if market_minute is not None:
        end = max(end, market_minute.astimezone(UTC).replace(second=0, microsecond=0))
    return Window(end - length, end)


def run_window(
    start: str | None,
    end: str | None,
    interval_start: datetime | None,
    interval_end: datetime | None,
    run_after: datetime | None,
    *,
    market_minute: datetime | None = None,
) -> Window:
    """The window of a DAG run: explicit params, else its data interval when it has a length,
    else (Asset-triggered runs have none) the 24 hours before the run, or before the market's
    current minute when the data is ahead of the host's clock."""
    if start or end:
        if end:
            window = default_window(parse_utc(end))
        else:
            window = default_window(run_after, market_minute=market_minute)
        return Window(parse_utc(start), window.end) if start else window
    if interval_start and interval_end and interval_end > interval_start:
        return Window(interval_start.astimezone(UTC), interval_end.astimezone(UTC))
    return default_window(run_after, market_minute=market_minute)


def market_minute(database_url: str | None = None) -> datetime | None:
    """The market's current minute by the data's own time: the newest minute the streamer
    wrote in the last few minutes (its open candle), None without a streamer writing.

    Binance's clock is the host's, so this is the current minute in production; a replay or
    an accelerated market (the soak's) runs ahead, and a window ending at the host's minute
    would never reach a live minute.
    """
    url = database_url or db.resolve_role_url(db.READER, get_settings())
    with psycopg.connect(url, autocommit=True) as conn:
        if not table_exists(conn, LIVE_TABLE):
            return None
        row = conn.execute(load_sql("select_market_minute"), {"recent": AUTO_LIVE_PRESENT})
        return row.fetchone()[0]


def gx_root_dir(data_dir: Path | None = None) -> Path:
    """Where the GX project lives: $DATA_DIR/gx (suites, results and Data Docs)."""
    return (data_dir or get_settings().data_dir) / "gx"


def data_docs_index(root: Path) -> Path:
    """The Data Docs front page inside a GX project directory."""
    return root / "uncommitted" / "data_docs" / DOCS_SITE / "index.html"


def run_checks(
    database_url: str | None = None,
    window: Window | None = None,
    *,
    symbols: Sequence[str] | None = _UNSET,
    expect_live: bool | None = None,
    max_live_age: timedelta = DEFAULT_MAX_LIVE_AGE,
    gx_root: Path | None = None,
    keep_runs: int = DOCS_KEEP_RUNS,
    market: str | Market = SPOT,
) -> QualityReport:
    """Validate every table over the window with GX and return the report (it never raises on
    a failed check: the caller decides; see QualityReport.success and .summary()).

    symbols: the active symbols, None meaning ALL in TRADING status (default: SYMBOLS).
    expect_live: True requires fresh live candles, False skips that check, None decides
    (a window reaching the present, and a live row written within the last hour).
    keep_runs: how many runs' validation results (and Data Docs pages) to keep, this one included.
    market: whose tables: spot's, or a futures market's (the same checks over market_usdm and
    analytics_usdm, reported under those names).
    """
    started = time.perf_counter()
    settings = get_settings()
    venue = markets.market(market)
    url = database_url or db.resolve_role_url(db.READER, settings)
    window = window or default_window()
    if symbols is _UNSET:
        symbols = getattr(settings, venue.symbols_setting)
    elif symbols is not None:
        # The one resolver's reading: upper-cased, and ALL (None) kept as the set of TRADING.
        symbols = requested_symbols(symbols, venue)
    root = gx_root or gx_root_dir(settings.data_dir)
    report = QualityReport(window=window, symbols=symbols)

    with psycopg.connect(url, autocommit=True) as conn:
        # Held until GX is done: a running build finishes first, and none starts meanwhile
        # (the lock's other holder, include/timeframes). Released when the session ends.
        conn.execute("select pg_advisory_lock_shared(%s)", (db.MARTS_LOCK_KEY,))
        candle_tables = [venue.served_text(t) for t in CANDLE_TABLES]
        others = [venue.served_text(t) for t in (GAPS_TABLE, RECONCILE_TABLE)]
        existing = [t for t in (*candle_tables, *others) if table_exists(conn, t)]
        report.missing_tables = [t for t in candle_tables if t not in existing]
        if expect_live is None:
            expect_live = streamer_expected(conn, window, venue)
        checks = [
            dataclasses.replace(c, table=venue.served_text(c.table))
            for c in all_checks(expect_live=expect_live)
        ]
        checks = [c for c in checks if c.table in existing]
        queries = {
            c: venue.served_text(render(c, conn, window, symbols, max_live_age)) for c in checks
        }
        logger.info(
            "checking %d expectations on %d tables over %s (expect_live=%s)",
            len(checks),
            len(existing),
            window,
            expect_live,
        )
        # The report's counts read every table's window once more: on a connection of their
        # own, beside GX's validations (include/quality/checkpoint.py), done before the lock goes.
        # All but the view's minutes: continuity_minutes counts those in its own pass.
        tallied = {c.table for c in checks if c.name == TALLIES_MINUTES}
        with ThreadPoolExecutor(max_workers=1) as pool:
            counted = pool.submit(
                window_counts, url, [t for t in existing if t not in tallied], window, venue
            )
            results = validate(url, root, queries, keep_runs=keep_runs, market=venue)
            rows, report.reconciled = counted.result()
        for result in results:
            if result.name == TALLIES_MINUTES:
                # One that could not run counted nothing: the rows are counted here then.
                ran = result.success or result.compared
                rows[result.table] = (
                    result.compared if ran else rows_in_window(conn, result.table, window)
                )
        report.rows_checked = {t: rows[t] for t in existing if t in rows}
    report.results = [with_compared(r, report.rows_checked) for r in results]
    report.data_docs = data_docs_index(root).as_uri()
    report.seconds = time.perf_counter() - started
    return report


def with_compared(result: CheckResult, rows_checked: dict[str, int]) -> CheckResult:
    """A check that counts nothing of its own compared its table's rows in the window."""
    if result.compared is not None or result.table not in rows_checked:
        return result
    return dataclasses.replace(result, compared=rows_checked[result.table])


def table_exists(conn: psycopg.Connection, table: str) -> bool:
    """Whether a schema-qualified table (or view) exists."""
    return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]


def window_counts(
    url: str, tables: Sequence[str], window: Window, market: Market = SPOT
) -> tuple[dict[str, int], dict[str, int]]:
    """The report's counts, on a connection of its own: each candle table's rows in the window,
    and per symbol the closed live candles that have an official kline."""
    candle_tables = {market.served_text(t) for t in CANDLE_TABLES}
    with psycopg.connect(url, autocommit=True) as conn:
        rows = {t: rows_in_window(conn, t, window) for t in tables if t in candle_tables}
        live = market.served_text(LIVE_TABLE) in tables
        reconciled = reconciled_counts(conn, window, market) if live else {}
    return rows, reconciled


def rows_in_window(conn: psycopg.Connection, table: str, window: Window) -> int:
    """How many candles of the table fall in the window (what the checks read)."""
    schema, name = table.split(".")
    query = sql.SQL("select count(*) from {} where open_time >= %s and open_time < %s").format(
        sql.Identifier(schema, name)
    )
    return conn.execute(query, (window.start, window.end)).fetchone()[0]


def reconciled_counts(
    conn: psycopg.Connection, window: Window, market: Market = SPOT
) -> dict[str, int]:
    """Per symbol, how many closed live candles in the window have an official kline."""
    rows = conn.execute(
        market.sql(
            "select live.symbol, count(*) from market.candles_1m_live as live "
            "join market.klines_1m as kline using (symbol, open_time) "
            "where live.is_closed and live.open_time >= %(start)s and live.open_time < %(end)s "
            # Implied by the join, stated so the klines are read from the window's range only.
            "and kline.open_time >= %(start)s and kline.open_time < %(end)s "
            "group by live.symbol order by live.symbol"
        ),
        {"start": window.start, "end": window.end},
    ).fetchall()
    return dict(rows)


def streamer_expected(conn: psycopg.Connection, window: Window, market: Market = SPOT) -> bool:
    """Whether freshness applies: the window reaches now and the streamer wrote the market's
    live table recently."""
    now = conn.execute("select now()").fetchone()[0]
    if window.end < now - AUTO_LIVE_PRESENT:
        return False
    return streamer_writing(conn, AUTO_LIVE_RECENT, market)


def sqlalchemy_url(url: str) -> str:
    """The libpq URL as SQLAlchemy wants it for GX (the psycopg2 driver)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {scheme!r}")
    return f"postgresql+psycopg2://{rest}"


def suite_name(table: str) -> str:
    """One GX suite per table: 'market.klines_1m' -> 'market_klines_1m'."""
    return table.replace(".", "_")


def gx_names(market: Market) -> tuple[str, str]:
    """(datasource, checkpoint) of a market's run in the one GX project: spot's as they always
    were, a futures market's its own. A shared pair would not survive two markets: each run
    resets the datasource to its own tables, and the checkpoint the other market stored points
    at tables no longer there (GX then refuses to load it)."""
    if market is SPOT:
        return DATASOURCE, CHECKPOINT
    return f"{DATASOURCE}_{market.name}", f"{CHECKPOINT}_{market.name}"


def validate(
    url: str,
    root: Path,
    queries: dict[Check, str],
    *,
    keep_runs: int = DOCS_KEEP_RUNS,
    market: Market = SPOT,
) -> list[CheckResult]:
    """Build the suites from the rendered checks, run one checkpoint, update Data Docs."""
    # GX would otherwise phone home; the platform runs offline. Set before GX reads it.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ[URL_VARIABLE] = sqlalchemy_url(url)
    # GX prints to stdout here and there; the CLI's stdout is the summary, so log it instead.
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), quiet_library_logs():
            return _validate(root, queries, keep_runs, gx_names(market))
    finally:
        if captured.getvalue().strip():
            logger.debug("great_expectations printed: %s", captured.getvalue().strip())


@contextlib.contextmanager
def quiet_library_logs(names: Sequence[str] = ("great_expectations",)) -> Iterator[None]:
    """GX logs a thousand INFO lines per run; a task log should hold the results instead."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _validate(
    root: Path, queries: dict[Check, str], keep_runs: int, names: tuple[str, str]
) -> list[CheckResult]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    from include.quality.checkpoint import ConcurrentCheckpoint
    from include.quality.expectation import UnexpectedRowsOnce, UnexpectedRowsShared

    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root.parent))
    if root.name != "gx":
        raise ValueError(f"the GX project directory must be named gx, got {root}")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    datasource, checkpoint_name = names
    source = context.data_sources.add_or_update_postgres(
        datasource, connection_string="${" + URL_VARIABLE + "}"
    )
    by_table: dict[str, list[Check]] = {}
    for check in queries:
        by_table.setdefault(check.table, []).append(check)
    rank = {t: max(cost_rank(c) for c in checks) for t, checks in by_table.items()}
    by_table = dict(sorted(by_table.items(), key=lambda item: -rank[item[0]]))

    definitions = []
    for table, checks in by_table.items():
        schema, name = table.split(".")
        with warnings.catch_warnings():
            # GX 1.24 deprecates schema_name in favour of a per-datasource schema; ours span two.
            warnings.simplefilter("ignore", DeprecationWarning)
            asset = source.add_table_asset(table, table_name=name, schema_name=schema)
        batch = asset.add_batch_definition_whole_table("whole_table")
        suite = gx.ExpectationSuite(name=suite_name(table))
        for check in checks:
            common = {
                "unexpected_rows_query": queries[check],
                "description": f"{check.name}: {check.description}",
                "severity": check.severity.value,
                "meta": {"check": check.name, "table": table},
            }
            suite.add_expectation(
                # GX's UnexpectedRowsExpectation, its query run once rather than twice (and once
                # for all the checks sharing it).
                UnexpectedRowsShared(**common, check=check.name, columns=list(check.columns))
                if check.shared
                else UnexpectedRowsOnce(**common)
            )
        suite = context.suites.add_or_update(suite)
        definitions.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=suite_name(table), data=batch, suite=suite)
            )
        )
    checkpoint = context.checkpoints.add_or_update(
        ConcurrentCheckpoint(
            name=checkpoint_name,
            validation_definitions=definitions,
            # Data Docs are built once below; GX's UpdateDataDocsAction rebuilt the whole site,
            # index included, once per table.
            actions=[],
            result_format={"result_format": "COMPLETE"},
        )
    )
    try:
        outcome = checkpoint.run()
    finally:
        with contextlib.suppress(Exception):
            source.get_execution_engine().close()
    prune_results(context, keep_runs)
    context.build_data_docs(
        site_names=[DOCS_SITE],
        resource_identifiers=[
            *outcome.run_results,
            *(ExpectationSuiteIdentifier(name=suite_name(table)) for table in by_table),
        ],
    )
    # GX leaves the directories of removed results and pages behind (empty); walking them
    # would again cost every run a little more than the last.
    for top in (root / "uncommitted" / "validations", data_docs_index(root).parent / "validations"):
        remove_empty_dirs(top)
    return collect(outcome, {(c.table, c.name): c for c in queries})


def cost_rank(check: Check) -> int:
    """How much of the window a check reads, as a rank (the higher first: the tables'
    validations run side by side, and the longest started last would run alone at the end):
    every minute through the analytics.candles_1m view (the 5m's parts, continuity: a klines
    probe per live minute), then a raw table whole, then the other timeframes."""
    if check.timeframe:
        return 3 if PARTS_TABLE[check.timeframe] == MINUTES_TABLE else 1
    return {TALLIES_MINUTES: 3, "ohlc_invariants": 2}.get(check.name, 0)


def prune_results(context: Any, keep_runs: int) -> int:
    """Remove the validation results of all but the newest keep_runs runs of each suite (each
    table: a market's runs do not push out another's); return how many.

    Building the Data Docs index then drops their pages too (GX cleans pages whose result is
    gone), so both the store and the index stay the size of keep_runs runs.
    """
    store = context.validation_results_store
    by_suite: dict[str, list[Any]] = {}
    for key in store.list_keys():
        by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
    old = []
    for keys in by_suite.values():
        times = sorted({key.run_id.run_time for key in keys}, reverse=True)
        newest = set(times[: max(keep_runs, 1)])
        old += [key for key in keys if key.run_id.run_time not in newest]
    for key in old:
        store.remove_key(key)
    return len(old)


def remove_empty_dirs(top: Path) -> None:
    """Remove every empty directory below top (deepest first), keeping top itself."""
    if not top.is_dir():
        return
    for path, _, _ in os.walk(top, topdown=False):
        if Path(path) != top:
            # rmdir refuses a directory that is not empty.
            with contextlib.suppress(OSError):
                os.rmdir(path)


def collect(outcome: Any, checks: dict[tuple[str, str], Check]) -> list[CheckResult]:
    """Turn GX's checkpoint result into one CheckResult per expectation, in check order."""
    results: list[CheckResult] = []
    for run in outcome.run_results.values():
        for item in run.results:
            meta = item.expectation_config.meta or {}
            check = checks[(meta["table"], meta["check"])]
            error = raised_error(item.exception_info)
            # A check that cannot run (a missing column, say) is a failed check, not a crash.
            value = {} if error else item.result or {}
            details = value.get("details", {})
            rows = details.get("unexpected_rows", [])
            results.append(
                CheckResult(
                    name=check.name,
                    table=check.table,
                    description=f"could not run: {error}" if error else check.description,
                    severity=check.severity,
                    success=not error and bool(item.success),
                    unexpected_count=int(value.get("observed_value") or 0),
                    rows=tuple(dict(r) for r in rows),
                    compared=0 if error else details.get("compared"),
                    deferred=int(details.get("deferred") or 0),
                )
            )
    order = {key: i for i, key in enumerate(checks)}
    return sorted(results, key=lambda r: order[(r.table, r.name)])


def raised_error(info: Any) -> str | None:
    """GX's exception message for an expectation that could not run, else None."""
    if not isinstance(info, dict):
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            message = str(entry.get("exception_message") or "unknown error")
            return message.strip().splitlines()[0] if message.strip() else "unknown error"
    return None
