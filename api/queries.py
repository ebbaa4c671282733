"""Every read the API makes, with bound parameters: klines (stored, forming and live) and symbols.

A 1m candle comes from analytics.candles_1m, a view over the minutes (market.klines_1m, then
market.candles_1m_live where no official kline exists). A candle of a longer interval tf comes
from analytics.candles_<tf> while dbt has built it from final minutes; everything newer is
rolled up here, in the same statement, from analytics' final child candles and the minutes of
analytics.candles_1m. So a request in the middle of an hour gets the forming hour, as Binance
answers.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from psycopg import AsyncConnection, errors, sql

from include.platform.intervals import (
    DAY_MS,
    INTERVAL_MS,
    MINUTE_MS,
    ORIGIN_MS,
    SECOND,
    WEEK_ORIGIN_MS,
    bucket_end,
    bucket_start,
    roll_ratio,
    rolled_from,
    to_datetime,
)
from include.platform.intervals import STORED as MART_INTERVALS
from include.platform.times import CANDLE_FIELDS
from include.sql import sql_loader

# The statements longer than a few lines live in api/sql/ (the rule: docs/architecture.md).
SQL_DIR = Path(__file__).parent / "sql"


load_sql = sql_loader(SQL_DIR)


# Which final candles of a shorter interval may stand in for their minutes inside a forming
# candle: at most a few hundred rows to roll up, whatever the interval.
CHILD = {"1m": None, "5m": None, "15m": "5m", "1h": "5m", "4h": "1h", "1d": "1h", "1w": "1h"}
# Each mart's length as date_bin takes it, from the one timeframe table.
PG_INTERVAL = {name: f"{INTERVAL_MS[name] // 1000} seconds" for name in MART_INTERVALS}
# date_bin's origin: weeks open on Monday 1970-01-05; every shorter mart divides a day, so its
# candles fall on the epoch's grid from there too.
ORIGIN = sql.SQL("timestamptz {}").format(sql.Literal(to_datetime(WEEK_ORIGIN_MS).isoformat()))
FIELDS = CANDLE_FIELDS
# Stored rows one rolled-up answer reads at most (1M at limit 1000 is 31,031 days).
MAX_ROLLED_ROWS = 32_000
# Far enough from any candle, close enough for date arithmetic.
FAR_PAST_MS = 0
FAR_FUTURE_MS = 32_503_680_000_000  # 3000-01-01

KLINES_TEMPLATE = load_sql("klines")

BOUNDS = load_sql("klines_bounds")
# Before dbt's first build there are no marts: every candle is rolled up from the minutes.
NO_BOUNDS = "select '-infinity'::timestamptz as t_a, '-infinity'::timestamptz as b0"
STORED = load_sql("klines_stored")
NO_STORED = "select open_time, {fields} from market.klines_1m where false"
ANALYTICS_MINUTES = load_sql("klines_analytics_minutes")
RAW_MINUTES = load_sql("klines_raw_minutes")
# 1m once dbt has built (analytics.candles_1m, a view over the minutes: every candle a stored
# one) and 1s: a table's rows as they are.
KLINES_TABLE = load_sql("klines_table")
CHILD_PART = load_sql("klines_child_part")
CHILD_FILTER = load_sql("klines_child_filter")

SYMBOLS_SQL = load_sql("symbols")
PUSH_MINUTES = load_sql("push_minutes")
PUSH_SECONDS = load_sql("push_seconds")
TICKER_PRICE = load_sql("ticker_price")
TICKER_WINDOW = load_sql("ticker_window")
SUM_BUCKETS = load_sql("klines_sum_buckets")

MART_NAMES = tuple(f"analytics.candles_{i}" for i in PG_INTERVAL)
MARTS_SQL = "select bool_and(to_regclass(name) is not null) from unnest(%s::text[]) as name"

# A kline row as /api/v3/klines needs it: open time, nine values (decimals as Binance strings).
Row = tuple[int, str, str, str, str, str, str, int, str, str]


def _fields(alias: str) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, f) for f in FIELDS)


@functools.cache
def klines_query(interval: str, newest_first: bool, analytics: bool = True) -> sql.Composed:
    """The klines statement for one interval and direction (identifiers from a fixed table)."""
    origin = ORIGIN
    bucket = sql.SQL("interval {}").format(sql.Literal(PG_INTERVAL[interval]))
    fields = sql.SQL(", ").join(map(sql.Identifier, FIELDS))
    direction = sql.SQL("desc" if newest_first else "asc")
    if analytics and interval == "1m":
        return sql.SQL(KLINES_TABLE).format(
            table=sql.Identifier("analytics", "candles_1m"), direction=direction
        )
    if not analytics:
        bounds: sql.Composable = sql.SQL(NO_BOUNDS)
        stored: sql.Composable = sql.SQL(NO_STORED).format(fields=fields)
        minutes: sql.Composable = sql.SQL(RAW_MINUTES).format(
            k_fields=_fields("k"), l_fields=_fields("l")
        )
    else:
        child = CHILD[interval]
        child_part: sql.Composable = sql.SQL("")
        child_filter: sql.Composable = sql.SQL("")
        if child is not None:
            child_table = sql.Identifier(f"candles_{child}")
            child_part = sql.SQL(CHILD_PART).format(c_fields=_fields("c"), child_table=child_table)
            child_filter = sql.SQL(CHILD_FILTER).format(
                child_table=child_table,
                child_bucket=sql.SQL("interval {}").format(sql.Literal(PG_INTERVAL[child])),
                origin=origin,
            )
        bounds = sql.SQL(BOUNDS).format(bucket=bucket, origin=origin)
        stored = sql.SQL(STORED).format(
            fields=fields, table=sql.Identifier(f"candles_{interval}"), direction=direction
        )
        minutes = sql.SQL(ANALYTICS_MINUTES).format(
            child_part=child_part, child_filter=child_filter, m_fields=_fields("m")
        )
    return sql.SQL(KLINES_TEMPLATE).format(
        bounds=bounds,
        stored=stored,
        minutes=minutes,
        bucket=bucket,
        origin=origin,
        direction=direction,
    )


class _Marts:
    """Per database: has dbt built the marts yet? Re-checked every few seconds until it has."""

    ready: ClassVar[dict[tuple, bool]] = {}
    checked_at: ClassVar[dict[tuple, float]] = {}

    @staticmethod
    def key(conn: AsyncConnection) -> tuple:
        info = conn.info
        return (info.host, info.port, info.dbname)

    @classmethod
    async def available(cls, conn: AsyncConnection) -> bool:
        key = cls.key(conn)
        if cls.ready.get(key) or time.monotonic() - cls.checked_at.get(key, -1e9) < 2.0:
            return cls.ready.get(key, False)
        cur = await conn.execute(MARTS_SQL, (list(MART_NAMES),))
        row = await cur.fetchone()
        cls.ready[key] = bool(row and row[0])
        cls.checked_at[key] = time.monotonic()
        return cls.ready[key]

    @classmethod
    def forget(cls, conn: AsyncConnection) -> None:
        cls.ready.pop(cls.key(conn), None)
        cls.checked_at.pop(cls.key(conn), None)


@dataclass(frozen=True)
class KlinesRequest:
    """Binance's klines parameters, validated: open times in [start_ms, end_ms]."""

    symbol: str
    interval: str
    start_ms: int | None
    end_ms: int | None
    limit: int
    # Binance's timeZone: the intervals are read in the zone this far ahead of UTC.
    offset_ms: int = 0


async def fetch_klines(conn: AsyncConnection, req: KlinesRequest) -> list[Row]:
    """Binance's answer: with a start, the oldest ``limit`` candles from it; else the newest."""
    if req.interval == SECOND:
        return await _fetch_seconds(conn, req)
    source = rolled_from(req.interval, req.offset_ms)
    if source is not None:
        return await _fetch_rolled(conn, req, source)
    params = _klines_params(req)
    if params is None:
        return []
    if req.start_ms is not None:
        return await _run_klines(conn, req, params)
    rows = await _newest_klines(conn, req, params)
    rows.reverse()
    return rows


# Per request shape (symbol, interval, limit, zone): the open time (ms) of the oldest stored
# row the last answer without endTime read. Candles only come newer, so the next such answer
# reads no earlier.
_OLDEST: dict[tuple[str, str, int, int], int] = {}
_OLDEST_MAX = 100_000


async def _newest_klines(conn: AsyncConnection, req: KlinesRequest, params: dict) -> list[Row]:
    """The newest ``limit`` candles of a stored interval, newest first (``_bounded``)."""
    return await _bounded(
        req,
        params,
        lambda bounds: _run_klines(conn, req, bounds),
        read=len,
        oldest=lambda rows: rows[-1][0],
    )


async def _bounded(
    req: KlinesRequest,
    params: dict,
    run: Callable[[dict], Awaitable[list]],
    read: Callable[[list], int],
    oldest: Callable[[list], int],
) -> list:
    """Run a newest-first klines statement (``params["limit"]`` stored rows at most) from where
    the last same request began.

    Without a lower bound the statement opens every monthly partition of every table it reads,
    so its cost grows with the months of history held; from there it opens a month or two.
    ``read`` counts the stored rows an answer holds and ``oldest`` gives the open time its
    oldest began at. Should the window hold fewer rows than the statement may read (rows were
    deleted), the whole history is read, so the answer is the same either way."""
    key = (req.symbol, req.interval, req.limit, req.offset_ms)
    want = params["limit"]
    rows = None
    if req.end_ms is None and key in _OLDEST:
        since = to_datetime(_OLDEST[key])
        rows = await run({**params, "lo": since, "mlo": since})
        if read(rows) < want:
            rows = None
    if rows is None:
        rows = await run(params)
    if req.end_ms is None:
        if rows and read(rows) >= want:
            if len(_OLDEST) >= _OLDEST_MAX:
                _OLDEST.clear()
            _OLDEST[key] = oldest(rows)
        else:
            _OLDEST.pop(key, None)
    return rows


async def _fetch_seconds(conn: AsyncConnection, req: KlinesRequest) -> list[Row]:
    """1s candles, kept by the streamer for SECOND_CANDLE_SYMBOLS (the caller checks the
    symbol is one): no mart, no roll-up."""
    lo = FAR_PAST_MS if req.start_ms is None else max(req.start_ms, FAR_PAST_MS)
    hi = FAR_FUTURE_MS if req.end_ms is None else min(req.end_ms, FAR_FUTURE_MS)
    if hi < lo or req.limit <= 0:
        return []
    newest_first = req.start_ms is None
    query = sql.SQL(KLINES_TABLE).format(
        table=sql.Identifier("market", "candles_1s_live"),
        direction=sql.SQL("desc" if newest_first else "asc"),
    )
    params = {"symbol": req.symbol, "lo": to_datetime(lo), "hi": to_datetime(hi)}
    cur = await conn.execute(query, {**params, "limit": req.limit})
    rows = await cur.fetchall()
    if newest_first:
        rows.reverse()
    return rows


def _klines_params(req: KlinesRequest) -> dict | None:
    """The klines statement's parameters for a stored interval (None: nothing can match)."""
    size = INTERVAL_MS[req.interval]
    lo = FAR_PAST_MS if req.start_ms is None else max(req.start_ms, FAR_PAST_MS)
    hi = FAR_FUTURE_MS if req.end_ms is None else min(req.end_ms, FAR_FUTURE_MS)
    if hi < lo or req.limit <= 0:
        return None
    # Minutes of every candle whose open time lies in [lo, hi].
    mlo = lo + (-lo) % MINUTE_MS if lo > FAR_PAST_MS else lo
    mhi = min(bucket_start(req.interval, hi) + size, FAR_FUTURE_MS)
    return {
        "symbol": req.symbol,
        "lo": to_datetime(lo),
        "hi": to_datetime(hi),
        "mlo": to_datetime(mlo),
        "mhi": to_datetime(mhi),
        "limit": req.limit,
    }


@functools.cache
def _statement(
    interval: str,
    newest_first: bool,
    analytics: bool,
    wrap: Callable[[sql.Composable], sql.Composable],
) -> bytes:
    """The statement's text, composed once: composing it again for every request cost a fifth
    of the API's own CPU per klines request (py-spy, bench/api_bench.py)."""
    return wrap(klines_query(interval, newest_first, analytics)).as_bytes(None)


def _identity(query: sql.Composable) -> sql.Composable:
    return query


async def _run_klines(
    conn: AsyncConnection,
    req: KlinesRequest,
    params: dict,
    wrap: Callable[[sql.Composable], sql.Composable] = _identity,
) -> list:
    """Execute the klines statement of a stored interval (``wrap``ped in an outer one)."""
    newest_first = req.start_ms is None
    marts = await _Marts.available(conn)
    try:
        cur = await conn.execute(_statement(req.interval, newest_first, marts, wrap), params)
    except errors.UndefinedTable:
        if not marts:
            raise
        # A mart vanished (dropped by hand): serve from the minutes until it is back.
        _Marts.forget(conn)
        cur = await conn.execute(_statement(req.interval, newest_first, False, wrap), params)
    return await cur.fetchall()


async def _fetch_rolled(conn: AsyncConnection, req: KlinesRequest, source: str) -> list[Row]:
    """An interval no mart holds (3m, 30m, 2h, 6h, 8h, 12h, 1M), or one read in a zone that
    moves its candles off the mart's (1d at +08:00): the stored candles of ``source``
    (include/platform/intervals.py), a few per candle, summed here."""
    lo = FAR_PAST_MS if req.start_ms is None else max(req.start_ms, FAR_PAST_MS)
    hi = FAR_FUTURE_MS if req.end_ms is None else min(req.end_ms, FAR_FUTURE_MS)
    if hi < lo or req.limit <= 0:
        return []
    tf, offset = req.interval, req.offset_ms
    first = bucket_start(tf, lo, offset)
    if first < lo:
        first = bucket_end(tf, first, offset)
    end = bucket_end(tf, bucket_start(tf, hi, offset), offset)
    if first >= end:
        return []
    # One candle more than asked: the one at the far end may be cut by the limit. A zone that
    # needs many small rows per candle (1w at +05:45: 672 quarter hours) gets fewer candles
    # per answer; clients page on by time as they do at the end of history.
    ratio = roll_ratio(tf, source)
    want = min((req.limit + 1) * ratio, max(MAX_ROLLED_ROWS, 2 * ratio))
    newest_first = req.start_ms is None
    source_req = KlinesRequest(req.symbol, source, None if newest_first else first, end - 1, want)
    # Summed in the statement: a few hundred candles cross the wire, not the thousands of rows
    # they are made of, and the event loop never adds up a month of minutes.
    params = _klines_params(source_req)
    if params is None:
        return []
    params |= {"first": first, "offset": offset}
    if tf in INTERVAL_MS:
        params |= {"size": INTERVAL_MS[tf], "shift": offset - ORIGIN_MS[tf]}
    wrap = _sum_buckets if tf in INTERVAL_MS else _sum_months
    if newest_first:
        # Rows come oldest bucket first; a bucket's open is on the source's grid too.
        summed = await _bounded(
            req,
            params,
            lambda bounds: _run_klines(conn, source_req, bounds, wrap),
            read=lambda rows: sum(r[-1] for r in rows),
            oldest=lambda rows: rows[0][0],
        )
    else:
        summed = await _run_klines(conn, source_req, params, wrap)
    total = sum(r[-1] for r in summed)
    candles = {r[0]: r[:-1] for r in summed}
    opens = sorted(candles)
    if total >= want and opens:
        opens = opens[1:] if newest_first else opens[:-1]
    opens = opens[-req.limit :] if newest_first else opens[: req.limit]
    return [candles[t] for t in opens]


# bucket_start's rule in SQL: a fixed length's open, and a month's (its first day in the zone).
FIXED_BUCKET = sql.SQL("k.t - ((k.t + %(shift)s) %% %(size)s + %(size)s) %% %(size)s")
MONTH_BUCKET = sql.SQL(
    "(extract(epoch from date_trunc('month', "
    "to_timestamp((k.t + %(offset)s) / 1000.0) at time zone 'UTC')) * 1000)::bigint"
    " - %(offset)s"
)


def _sum_buckets(inner: sql.Composable) -> sql.Composable:
    return sql.SQL(SUM_BUCKETS).format(inner=inner, bucket=FIXED_BUCKET)


def _sum_months(inner: sql.Composable) -> sql.Composable:
    return sql.SQL(SUM_BUCKETS).format(inner=inner, bucket=MONTH_BUCKET)


async def fetch_candle(
    conn: AsyncConnection, symbol: str, interval: str, open_ms: int, offset_ms: int = 0
) -> Row | None:
    """The one candle of ``interval`` (read in the zone ``offset_ms`` ahead of UTC) opening at
    ``open_ms``, as it stands now."""
    req = KlinesRequest(symbol, interval, open_ms, open_ms, 1, offset_ms)
    rows = await fetch_klines(conn, req)
    return rows[0] if rows else None


@dataclass(frozen=True)
class Minute:
    """A 1m candle as the tables hold it: Binance's kline row, whether it is closed (official,
    or closed by the streamer) and the trade-id range the streamer built it from (-1 if none)."""

    symbol: str
    row: Row
    closed: bool
    first_trade_id: int
    last_trade_id: int


async def fetch_seconds(
    conn: AsyncConnection, keys: list[tuple[str, int]]
) -> list[tuple[str, Row, bool]]:
    """The 1s candles of those (symbol, open ms) keys that exist: (symbol, row, closed)."""
    if not keys:
        return []
    symbols, opens = zip(*keys, strict=True)
    cur = await conn.execute(PUSH_SECONDS, {"symbols": list(symbols), "opens": list(opens)})
    return [(r[0], tuple(r[1:11]), r[11]) for r in await cur.fetchall()]


async def fetch_minutes(conn: AsyncConnection, keys: list[tuple[str, int]]) -> list[Minute]:
    """The 1m candles of those (symbol, open ms) keys that exist, read from the tables."""
    if not keys:
        return []
    symbols, opens = zip(*keys, strict=True)
    cur = await conn.execute(PUSH_MINUTES, {"symbols": list(symbols), "opens": list(opens)})
    return [Minute(r[0], tuple(r[1:11]), r[11], r[12], r[13]) for r in await cur.fetchall()]


@dataclass(frozen=True)
class SymbolInfo:
    """A symbol held, with what Binance's exchangeInfo last said of it (None when never read)."""

    symbol: str
    status: str | None
    base_asset: str | None
    quote_asset: str | None
    # exchangeInfo's filters as Binance gave them (tickSize, stepSize, ...); None until read.
    filters: list | None = None
    # The open time of its first 1d kline at Binance, where its 3d grid starts; None until read.
    first_day_ms: int | None = None


async def fetch_symbols(conn: AsyncConnection) -> list[SymbolInfo]:
    """Every symbol the platform holds candles or listing data for."""
    cur = await conn.execute(SYMBOLS_SQL)
    return [SymbolInfo(*r) for r in await cur.fetchall()]


async def fetch_prices(conn: AsyncConnection, symbols: list[str]) -> list[tuple[str, str]]:
    """(symbol, latest price) of those symbols that have a candle, by symbol."""
    cur = await conn.execute(TICKER_PRICE, {"symbols": symbols})
    return [(r[0], r[1]) for r in await cur.fetchall()]


async def fetch_window_stats(
    conn: AsyncConnection, symbols: list[str], start_ms: int
) -> list[dict]:
    """Each symbol's trade statistics over the minutes from ``start_ms`` on (ticker_window.sql),
    by symbol; symbols without a candle are left out."""
    # Minutes open after now are in no window; a day's margin for a writer's clock ahead of ours.
    until = to_datetime(int(time.time() * 1000) + DAY_MS)
    cur = await conn.execute(
        TICKER_WINDOW, {"symbols": symbols, "start": to_datetime(start_ms), "until": until}
    )
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]


def last_minute(interval: str, start_ms: int, offset_ms: int = 0) -> int:
    """The open time of the last minute of the candle of ``interval`` opening at ``start_ms``:
    the candle is closed when that minute is."""
    return bucket_end(interval, start_ms, offset_ms) - MINUTE_MS


async def closed_candles(
    conn: AsyncConnection, symbol: str, interval: str, offset_ms: int, opens: list[int]
) -> set[int]:
    """Which of these candles (open ms) the tables hold closed, never the wall clock's say: a
    candle when its last minute is official or closed by the streamer; a 1s candle when the
    streamer closed it. The push and gRPC History both mark candles by it."""
    if interval == SECOND:
        seconds = await fetch_seconds(conn, [(symbol, start) for start in opens])
        return {row[0] for _symbol, row, closed in seconds if closed}
    last = {last_minute(interval, start, offset_ms): start for start in opens}
    minutes = await fetch_minutes(conn, [(symbol, minute) for minute in last])
    return {last[m.row[0]] for m in minutes if m.closed}
