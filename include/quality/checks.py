"""The data-quality checks as code: which SQL runs against which table, over which window."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import psycopg
from psycopg import sql

from include.platform.intervals import INTERVAL_MS, MINUTE_MS, ORIGIN_MS, STORED, to_datetime
from include.sql import sql_loader
from include.timeframes import LOOKBACK

logger = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parent / "sql"
load_sql = sql_loader(SQL_DIR)

LIVE_TABLE = "market.candles_1m_live"
KLINES_TABLE = "market.klines_1m"
GAPS_TABLE = "market.ingest_gaps"
RECONCILE_TABLE = "market.reconciliations"
MINUTES_TABLE = "analytics.candles_1m"
# The higher timeframes dbt builds (include/platform/intervals.py, their one owner): each one's
# bucket, its length in minutes and the origin its buckets open from (1w: Monday 00:00 UTC).
HIGHER_TIMEFRAMES: dict[str, tuple[timedelta, int, datetime]] = {
    tf: (
        timedelta(milliseconds=INTERVAL_MS[tf]),
        INTERVAL_MS[tf] // MINUTE_MS,
        to_datetime(ORIGIN_MS[tf]),
    )
    for tf in STORED
    if tf != "1m"
}


def _parent(timeframe: str) -> str:
    """The next stored timeframe below whose candles tile this one's buckets (1d: 4h, 1w: 1d):
    the checks compare a candle with these parts first, and with its minutes only on doubt."""
    size, origin = INTERVAL_MS[timeframe], ORIGIN_MS[timeframe]
    return max(
        (
            tf
            for tf in STORED
            if INTERVAL_MS[tf] < size
            and size % INTERVAL_MS[tf] == 0
            and (origin - ORIGIN_MS[tf]) % INTERVAL_MS[tf] == 0
        ),
        key=INTERVAL_MS.__getitem__,
    )


# Each higher timeframe's parts, as a table: 5m from analytics.candles_1m, 1h from 15m...
PARTS_TABLE = {tf: f"analytics.candles_{_parent(tf)}" for tf in HIGHER_TIMEFRAMES}
# The raw tables the platform's writers fill: GX owns their structure, keys and invariants.
RAW_TABLES = (LIVE_TABLE, KLINES_TABLE)
# dbt's marts: dbt owns their columns, keys and invariants (contracts and tests in
# dbt_project/models/marts/); GX checks them only against other tables (continuity,
# cross-timeframe), which no single model's test sees.
CANDLE_TABLES = (
    *RAW_TABLES,
    MINUTES_TABLE,
    *(f"analytics.candles_{tf}" for tf in HIGHER_TIMEFRAMES),
)
# A candle's key, the first columns of every candle check's rows.
KEY = ("symbol", "open_time")
VOLUMES = ("volume", "quote_volume", "trade_count", "taker_buy_volume", "taker_buy_quote_volume")
# Freshness: the newest closed live minute may have closed at most this long ago.
DEFAULT_MAX_LIVE_AGE = timedelta(minutes=2)


class Severity(StrEnum):
    """How a check's unexpected rows count: critical fails the run, info is only reported."""

    CRITICAL = "critical"
    INFO = "info"


@dataclass(frozen=True)
class Check:
    """One named expectation: sql/check_<name>.sql returning the offending rows of one table
    (none = pass)."""

    name: str
    table: str
    description: str
    severity: Severity = Severity.CRITICAL
    timeframe: str | None = None
    # Checks of one table that share a pass over it: sql/check_<shared>.sql returns the rows of
    # each, named in its _quality_check column, and GX runs it once for all of them. `columns`
    # are this check's own columns of those rows.
    shared: str | None = None
    columns: tuple[str, ...] = ()

    def template(self) -> str:
        """The check's SQL text, with {placeholders} for the window and {{batch}} for GX."""
        return load_sql(f"check_{self.shared or self.name}")


@dataclass(frozen=True)
class Window:
    """The half-open time range [start, end) a run checks, both UTC-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("the check window needs timezone-aware datetimes (UTC)")
        if self.end <= self.start:
            raise ValueError(
                f"empty check window: start {self.start.isoformat()} "
                f"is not before end {self.end.isoformat()}"
            )

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def table_checks(table: str) -> list[Check]:
    """The structure, key and invariant checks of a raw candle table (RAW_TABLES)."""
    return [
        Check("structure_columns", table, "every DESIGN.md candle column exists with its type"),
        Check("key_not_null", table, "symbol and open_time are never null"),
        Check("key_unique", table, "one candle per (symbol, open_time)"),
        Check(
            "ohlc_invariants",
            table,
            "0 < low <= open, close <= high",
            shared="candle_rows",
            columns=(*KEY, "open", "high", "low", "close", "problem"),
        ),
        Check(
            "volumes_non_negative",
            table,
            "volumes, quote volumes, trade counts and taker volumes are >= 0",
            shared="candle_rows",
            columns=(*KEY, "negative_or_null", *VOLUMES),
        ),
        Check(
            "taker_within_volume",
            table,
            "taker-buy volumes do not exceed the volumes",
            shared="candle_rows",
            columns=(*KEY, "volume", "taker_buy_volume", "quote_volume", "taker_buy_quote_volume"),
        ),
    ]


def all_checks(*, expect_live: bool) -> list[Check]:
    """Every check of a run, grouped by table in a stable order (the suites follow it)."""
    checks: list[Check] = []
    for table in CANDLE_TABLES:
        if table in RAW_TABLES:
            checks += table_checks(table)
        if table == LIVE_TABLE:
            checks.append(
                Check(
                    "live_reconciliation",
                    table,
                    "every closed live candle equals its official kline, field for field",
                )
            )
            if expect_live:
                checks.append(
                    Check(
                        "live_freshness",
                        table,
                        "the newest closed live candle of each active symbol is fresh",
                    )
                )
        elif table == MINUTES_TABLE:
            checks.append(
                Check(
                    "continuity_minutes",
                    table,
                    "no missing minute for an active symbol outside unhealed gaps and halts",
                )
            )
        elif table.startswith("analytics.candles_"):
            timeframe = table.removeprefix("analytics.candles_")
            checks += [
                Check(
                    "timeframe_completeness",
                    table,
                    "a bucket is complete exactly where all its minutes are present",
                    timeframe=timeframe,
                    shared="timeframe_candles",
                    columns=(*KEY, "minutes_present", "minute_count", "is_complete"),
                ),
                Check(
                    "cross_timeframe",
                    table,
                    "every complete candle equals the aggregate of its minutes",
                    timeframe=timeframe,
                    shared="timeframe_candles",
                    columns=(*KEY, "differing_fields", "candle_ohlcv", "minutes_ohlcv"),
                ),
            ]
    checks += [
        Check(
            "unhealed_gaps",
            GAPS_TABLE,
            "recorded gaps not healed yet inside the window (reported, not a failure)",
            severity=Severity.INFO,
        ),
        Check(
            "halts",
            GAPS_TABLE,
            "trading halts inside the window: Binance has no kline (reported, not a failure)",
            severity=Severity.INFO,
        ),
        Check(
            "reconciled_share",
            RECONCILE_TABLE,
            "share of compared minutes equal to Binance's klines after reconcile (reported)",
            severity=Severity.INFO,
        ),
    ]
    return checks


def active_symbols_query(symbols: Sequence[str] | None) -> sql.Composable:
    """SQL returning the active symbols: the configured ones (None = ALL) still TRADING."""
    if symbols is None:
        return sql.SQL("select symbol from market.symbols where status = 'TRADING'")
    rows = sql.SQL(", ").join(sql.SQL("({})").format(sql.Literal(s)) for s in symbols)
    return sql.SQL(
        "select configured.symbol\n"
        "    from (values {rows}) as configured (symbol)\n"
        "    where not exists (\n"
        "        select 1 from market.symbols as listed\n"
        "        where listed.symbol = configured.symbol and listed.status <> 'TRADING'\n"
        "    )"
    ).format(rows=rows)


def window_symbols(timeframe: str) -> sql.Composable:
    """SQL returning the symbols with a candle of the timeframe or one of its parts in the
    window (sql/window_symbols.sql per table): the 5m's parts, the minutes of the
    analytics.candles_1m view, are the klines and the live candles beneath it."""
    parent = PARTS_TABLE[timeframe]
    parts = RAW_TABLES if parent == MINUTES_TABLE else (parent,)
    return sql.SQL("\n\n    union\n\n    ").join(
        sql.SQL(load_sql("window_symbols").strip()).format(table=sql.Identifier(*table.split(".")))
        for table in (f"analytics.candles_{timeframe}", *parts)
    )


def _bin(instant: datetime, size: timedelta, origin: datetime) -> datetime:
    """The opening of the bucket of `size` from `origin` that holds `instant` (SQL's date_bin)."""
    return instant - (instant - origin) % size


def params_cte(window: Window, timeframe: str | None = None) -> sql.Composable:
    """The window's params CTE (params.sql), shared by every windowed check; with a timeframe,
    its bucket, the bucket's length in minutes, the origin buckets open from, and the instants
    the templates bound their scans by.

    Those instants are computed here, not in SQL: timestamptz arithmetic is only stable there,
    so a bound like `window_end + bucket` leaves every partition of the table in the plan (to be
    pruned when it starts), and planning them grows with the history. As constants, the planner
    keeps only the window's partitions.
    """
    bucket_columns: sql.Composable = sql.SQL("")
    if timeframe:
        bucket, minutes, origin = HIGHER_TIMEFRAMES[timeframe]
        part = timedelta(milliseconds=INTERVAL_MS[_parent(timeframe)])
        # The parts are grouped a day (a bucket, when longer) at a time: a day holds whole
        # 5m..4h buckets, and both start at the origin's day.
        chunk = max(bucket, timedelta(days=1))
        columns = {
            "bucket": (bucket, "interval"),
            "bucket_minutes": (minutes, "integer"),
            "bucket_origin": (origin, "timestamptz"),
            "part_bucket": (part, "interval"),
            # The first bucket opening inside the window (one opening before it is another
            # window's), and the one holding the window's last instant.
            "first_bucket": (
                _bin(window.start - timedelta(microseconds=1), bucket, origin) + bucket,
                "timestamptz",
            ),
            "last_bucket": (
                _bin(window.end - timedelta(microseconds=1), bucket, origin),
                "timestamptz",
            ),
            # Where the minutes of the window's buckets end: the last one may run past it.
            "minutes_end": (window.end + bucket, "timestamptz"),
            "chunk": (chunk, "interval"),
            "first_chunk": (_bin(window.start, chunk, origin), "timestamptz"),
        }
        bucket_columns = sql.SQL("").join(
            sql.SQL(",\n        {}::{} as {}").format(
                sql.Literal(value), sql.SQL(kind), sql.Identifier(name)
            )
            for name, (value, kind) in columns.items()
        )
    return sql.SQL(load_sql("params").strip()).format(
        window_start=sql.Literal(window.start),
        window_end=sql.Literal(window.end),
        bucket_columns=bucket_columns,
    )


def render(
    check: Check,
    conn: psycopg.Connection,
    window: Window,
    symbols: Sequence[str] | None,
    max_live_age: timedelta = DEFAULT_MAX_LIVE_AGE,
) -> str:
    """The check's SQL with every value quoted by psycopg, leaving {batch} for GX to fill.

    GX runs the query text itself, so values cannot be bound parameters; sql.Literal quotes
    them the way the server would, which is the safe equivalent.
    """
    params = params_cte(window, check.timeframe)
    values: dict[str, sql.Composable] = {
        "params": params,
        "table_name": sql.Literal(check.table),
        "active_symbols": active_symbols_query(symbols),
        "parent": sql.Identifier(*PARTS_TABLE[check.timeframe].split("."))
        if check.timeframe
        else sql.SQL(""),
        "window_symbols": window_symbols(check.timeframe) if check.timeframe else sql.SQL(""),
        "max_age": sql.Literal(f"{int(max_live_age.total_seconds())} seconds"),
        "lookback": sql.Literal(LOOKBACK),
    }
    text = sql.SQL(check.template()).format(**values).as_string(conn)
    # psycopg renders timestamps as '...'::timestamptz; the templates add their own casts.
    return text.strip().rstrip(";")
