"""The klines statements, composed from api/sql/ once per shape: per interval and direction,
from the marts or (before dbt's first build) from the minutes alone, the 1s table's, and the
outer statements that sum a roll-up's stored rows into its candles."""

from __future__ import annotations

import functools
from collections.abc import Callable

from psycopg import sql

from api.sql import load_sql
from include.platform.intervals import INTERVAL_MS, WEEK_ORIGIN_MS, to_datetime
from include.platform.intervals import STORED as MART_INTERVALS
from include.platform.markets import Market
from include.platform.times import CANDLE_FIELDS

# Which final candles of a shorter interval may stand in for their minutes inside a forming
# candle: at most a few hundred rows to roll up, whatever the interval.
CHILD = {"1m": None, "5m": None, "15m": "5m", "1h": "5m", "4h": "1h", "1d": "1h", "1w": "1h"}
# Each mart's length as date_bin takes it, from the one timeframe table.
PG_INTERVAL = {name: f"{INTERVAL_MS[name] // 1000} seconds" for name in MART_INTERVALS}
# date_bin's origin: weeks open on Monday 1970-01-05; every shorter mart divides a day, so its
# candles fall on the epoch's grid from there too.
ORIGIN = sql.SQL("timestamptz {}").format(sql.Literal(to_datetime(WEEK_ORIGIN_MS).isoformat()))
FIELDS = CANDLE_FIELDS

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
SUM_BUCKETS = load_sql("klines_sum_buckets")


def _values(exact: bool) -> sql.Composable:
    """A candle's values as the statement gives them: Binance's text of 8 decimal places, or
    exact (numeric) for a roll-up to sum before it rounds (klines_sum_buckets.sql)."""
    if exact:
        return sql.SQL(", ").join(map(sql.Identifier, FIELDS))
    return sql.SQL(", ").join(
        sql.Identifier(f)
        if f == "trade_count"
        else sql.SQL("round({}, 8)::text").format(sql.Identifier(f))
        for f in FIELDS
    )


def _fields(alias: str) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, f) for f in FIELDS)


def _direction(newest_first: bool) -> sql.Composable:
    return sql.SQL("desc" if newest_first else "asc")


@functools.cache
def klines_query(
    interval: str, newest_first: bool, analytics: bool = True, exact: bool = False
) -> sql.Composed:
    """The klines statement for one interval and direction (identifiers from a fixed table);
    ``exact``: its values unrounded, for a roll-up to sum."""
    origin = ORIGIN
    bucket = sql.SQL("interval {}").format(sql.Literal(PG_INTERVAL[interval]))
    fields = sql.SQL(", ").join(map(sql.Identifier, FIELDS))
    direction = _direction(newest_first)
    if analytics and interval == "1m":
        return sql.SQL(KLINES_TABLE).format(
            table=sql.Identifier("analytics", "candles_1m"),
            values=_values(exact),
            direction=direction,
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
        values=_values(exact),
        direction=direction,
    )


def identity(query: sql.Composable) -> sql.Composable:
    """The statement as it is (a stored interval's candles are its rows)."""
    return query


# bucket_start's rule in SQL: a fixed length's open, and a month's (its first day in the zone).
FIXED_BUCKET = sql.SQL("k.t - ((k.t + %(shift)s) %% %(size)s + %(size)s) %% %(size)s")
MONTH_BUCKET = sql.SQL(
    "(extract(epoch from date_trunc('month', "
    "to_timestamp((k.t + %(offset)s) / 1000.0) at time zone 'UTC')) * 1000)::bigint"
    " - %(offset)s"
)


def sum_buckets(inner: sql.Composable) -> sql.Composable:
    """The stored rows summed into candles of a fixed length (3m, 2h, 1d at +08:00, ...)."""
    return sql.SQL(SUM_BUCKETS).format(inner=inner, bucket=FIXED_BUCKET)


def sum_months(inner: sql.Composable) -> sql.Composable:
    """The stored rows summed into months (1M), each opening on its first day in the zone."""
    return sql.SQL(SUM_BUCKETS).format(inner=inner, bucket=MONTH_BUCKET)


@functools.cache
def statement(
    interval: str,
    newest_first: bool,
    analytics: bool,
    wrap: Callable[[sql.Composable], sql.Composable],
) -> bytes:
    """The statement's text, composed once: composing it again for every request cost a fifth
    of the API's own CPU per klines request (py-spy, bench/api_bench.py). A roll-up (any
    ``wrap`` but identity) sums the stored rows exact and rounds each candle once."""
    exact = wrap is not identity
    return wrap(klines_query(interval, newest_first, analytics, exact)).as_bytes(None)


@functools.cache
def market_statement(
    market: Market,
    interval: str,
    newest_first: bool,
    analytics: bool,
    wrap: Callable[[sql.Composable], sql.Composable],
) -> bytes:
    """``statement`` over the market's schemas (a futures market's market_usdm and
    analytics_usdm; spot's as it is), composed once."""
    return market.served_sql(statement(interval, newest_first, analytics, wrap))


@functools.cache
def seconds_statement(newest_first: bool) -> bytes:
    """The 1s table's statement (market.candles_1s_live: no mart, no roll-up), composed once."""
    query = sql.SQL(KLINES_TABLE).format(
        table=sql.Identifier("market", "candles_1s_live"),
        values=_values(exact=False),
        direction=_direction(newest_first),
    )
    return query.as_bytes(None)
