"""The marts stay partitioned by month through dbt builds, and bounded reads prune partitions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from api.klines.statements import klines_query
from fakebinance.config import utc
from include.platform import partitions
from include.quality.checks import Window, all_checks, render
from include.timeframes import build_timeframes
from tests.support import dbt
from tests.support.marts import assert_equals_official

# The marts that are tables (analytics.candles_1m is a view over the market tables).
PARTITIONED = tuple(tf for tf in dbt.MARTS if tf != "1m")
PROBE = re.compile(r"Index (Only )?Scan.* \(actual rows=[01]\.00 loops=\d+\)")
NEWEST_BUILD = re.compile(r"(^|->  )Aggregate \(")
# The newest build's time, less the look-back where a check wants its settled minutes, or
# both (the planner numbers the alias, candle_1, when the query reads the mart more than once).
_BUILT = r"\(?max\(candle(_\d+)?\.built_at\)( - '[^']*'::interval\))?"
NEWEST_BUILD_OUTPUT = re.compile(rf"^\s*Output: {_BUILT}(, {_BUILT})?$")
PARTITION = re.compile(r"\b((?:klines|candles)_\w+?)_(p\d{4}_\d{2}|default)\b")


def layout(conn: psycopg.Connection, tf: str) -> tuple:
    """(oid, partition strategy and key, months with rows, rows in DEFAULT) of one mart."""
    table = f"analytics.candles_{tf}"
    oid, strategy, key = conn.execute(
        "select p.partrelid::oid, p.partstrat, a.attname from pg_partitioned_table as p "
        "join pg_attribute as a on a.attrelid = p.partrelid and a.attnum = p.partattrs[0] "
        "where p.partrelid = %s::regclass",
        (table,),
    ).fetchone()
    with_rows = conn.execute(
        sql.SQL("select distinct tableoid::regclass::text from {} order by 1").format(
            sql.Identifier("analytics", f"candles_{tf}")
        )
    ).fetchall()
    return oid, strategy, key, [r[0] for r in with_rows]


@pytest.mark.slow
def test_build_incremental_and_full_refresh_keep_the_marts_partitioned(
    database_url, conn, market, window_klines
):
    """dbt's first build creates every mart partitioned by month with its rows in their months;
    an incremental run and a full refresh rebuild the same table (same oid, grants kept) with
    the official candles in it, nothing left in DEFAULT."""
    for symbol in ("BTCUSDT", "QUIETUSDT"):
        dbt.load_klines(conn, symbol, window_klines[symbol])

    build_timeframes(database_url)

    first = {tf: layout(conn, tf) for tf in PARTITIONED}
    for tf, (_, strategy, key, with_rows) in first.items():
        assert (strategy, key) == ("r", "open_time"), tf
        assert with_rows == [
            f"analytics.candles_{tf}_p2024_12",
            f"analytics.candles_{tf}_p2025_01",
        ], tf
    assert_equals_official(conn, market, "BTCUSDT", utc(2024, 12, 30), utc(2025, 1, 13))
    conn.execute("create role mart_reader nologin")
    conn.execute("grant select on analytics.candles_1h to mart_reader")

    # Incremental: a live minute of a month no mart had yet (February) lands in its month.
    last = window_klines["ETHUSDT"][-1]
    feb = datetime(2025, 2, 1, tzinfo=UTC)
    dbt.write_live(conn, "ETHUSDT", feb, dbt.kline_values(last), is_closed=True)
    build_timeframes(database_url)
    assert (
        conn.execute(
            "select tableoid::regclass::text from analytics.candles_5m where symbol = 'ETHUSDT' "
            "and open_time >= %s",
            (feb,),
        ).fetchone()[0]
        == "analytics.candles_5m_p2025_02"
    )
    incremental = dbt.mart_snapshot(conn)

    build_timeframes(database_url, full_refresh=True)

    for tf in PARTITIONED:
        oid, strategy, key, with_rows = layout(conn, tf)
        assert (oid, strategy, key) == first[tf][:3], tf
        assert all(not name.endswith("_default") for name in with_rows), tf
    assert dbt.mart_snapshot(conn) == incremental
    assert_equals_official(conn, market, "BTCUSDT", utc(2024, 12, 30), utc(2025, 1, 13))
    assert conn.execute(
        "select has_table_privilege('mart_reader', 'analytics.candles_1h', 'select')"
    ).fetchone() == (True,)


def read_partitions(conn: psycopg.Connection, query: str, params=None) -> set[str]:
    """The partitions a query actually reads (EXPLAIN ANALYZE: not pruned, executed)."""
    cur = psycopg.ClientCursor(conn)
    cur.execute(
        sql.SQL("explain (analyze, verbose, costs off, timing off, summary off) ")
        + (sql.SQL(query) if isinstance(query, str) else query),
        params,
    )
    lines = [line for (line,) in cur.fetchall()]
    read = set()
    # The newest-build look-up, exempt once per plan: its depth, and the one mart it reads.
    lookup: tuple[int, str | None] | None = None
    exempted = False
    for index, line in enumerate(lines):
        depth = len(line) - len(line.lstrip(" ->"))
        if lookup is not None and depth > lookup[0]:
            tables = {m.group(1) for m in PARTITION.finditer(line)}
            if lookup[1] is None and len(tables) == 1:
                lookup = (lookup[0], tables.pop())
                continue
            if tables <= {lookup[1]}:
                continue
            # Another table read under the look-up is no part of it: counted below.
        else:
            lookup = None
        if (
            not exempted
            and NEWEST_BUILD.search(line)
            and NEWEST_BUILD_OUTPUT.search(lines[index + 1] if index + 1 < len(lines) else "")
        ):
            # The time of the newest build, max(built_at) over the whole mart, is unbounded by
            # design; on a few rows with statistics the planner reads each month whole instead
            # of one index entry of each. Only its own mart's months, and only once.
            lookup, exempted = (depth, None), True
            continue
        if "never executed" in line:
            continue
        if PROBE.search(line):
            # Newest or oldest lookups (the API's watermark, a symbol's first candle, the last
            # build) are unbounded by design; with a DEFAULT partition the planner merges the
            # months' indexes instead of reading them in order: one index entry of each month.
            continue
        read |= {f"{m.group(1)}_{m.group(2)}" for m in PARTITION.finditer(line)}
    return read


@pytest.mark.slow
def test_bounded_reads_touch_only_their_months(database_url, conn, window_klines):
    """The API's klines query and every windowed data-quality check over January read no
    partition of December, which holds rows too (plan-time or run-time pruning), beyond one
    index entry per month for a newest/oldest lookup, and the newest build's time (the
    marts analyzed, the planner reads their few rows whole)."""
    for table in ("market.klines_1m", "market.candles_1m_live"):
        # As the loaders do before they write (the fixture's loads bypass them).
        partitions.ensure_range(conn, table, dbt.WINDOW_START, dbt.WINDOW_END)
    for symbol in ("BTCUSDT", "QUIETUSDT"):
        dbt.load_klines(conn, symbol, window_klines[symbol])
    for kline in window_klines["BTCUSDT"][:3] + window_klines["BTCUSDT"][-3:]:
        dbt.write_live(
            conn, "BTCUSDT", dbt.from_ms(kline.open_time), dbt.kline_values(kline), is_closed=True
        )
    build_timeframes(database_url)
    december = {
        name
        for (name,) in conn.execute(
            "select c.relname from pg_class as c where c.relname ~ '_p2024_12(_[0-9]{2})?$'"
        )
    }
    # The klines' month and each mart's, and the live table's days of December.
    assert len([n for n in december if n.endswith("_p2024_12")]) == 1 + len(PARTITIONED)
    assert [n for n in december if n.startswith("candles_1m_live_p2024_12_")]

    for interval in ("1m", "1h", "1w"):
        read = read_partitions(
            conn,
            klines_query(interval, newest_first=False),
            {
                "symbol": "BTCUSDT",
                "lo": utc(2025, 1, 6),
                "hi": utc(2025, 1, 7),
                "mlo": utc(2025, 1, 6),
                "mhi": utc(2025, 1, 8),
                "limit": 500,
            },
        )
        assert read, interval
        assert not read & december, (interval, read)

    window = Window(utc(2025, 1, 6), utc(2025, 1, 7))
    unpruned = {}
    for check in all_checks(expect_live=True):
        if check.name == "live_freshness":
            continue  # the newest closed live minute, whatever its month: not windowed
        text = render(check, conn, window, ["BTCUSDT", "QUIETUSDT"]).replace("{batch}", check.table)
        read = read_partitions(conn, text)
        if read & december:
            unpruned[check.name, check.table] = sorted(read & december)
    assert unpruned == {}


@pytest.mark.slow
def test_the_newest_1m_candles_read_only_the_minutes_asked(database_url, conn, window_klines):
    """The API's newest-1m request with no lower bound (a client's first call) reads the
    analytics.candles_1m view through both primary keys in order and stops at the limit; a
    view PostgreSQL cannot flatten (a WITH clause anywhere in it) reads and sorts every minute
    of the symbol's history first."""
    dbt.load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"])
    for kline in window_klines["BTCUSDT"][-3:]:
        dbt.write_live(
            conn, "BTCUSDT", dbt.from_ms(kline.open_time), dbt.kline_values(kline), is_closed=True
        )
    build_timeframes(database_url, unit_tests=False)
    cur = psycopg.ClientCursor(conn)
    cur.execute(
        sql.SQL("explain (analyze, costs off, timing off, summary off) ")
        + klines_query("1m", newest_first=True),
        {
            "symbol": "BTCUSDT",
            "lo": utc(1970, 1, 1),
            "hi": utc(3000, 1, 1),
            "mlo": utc(1970, 1, 1),
            "mhi": utc(3000, 1, 1),
            "limit": 100,
        },
    )
    rows_read = [int(n) for (line,) in cur.fetchall() for n in re.findall(r"rows=(\d+)", line)]
    assert len(window_klines["BTCUSDT"]) > 10_000
    assert max(rows_read) <= 101, rows_read
