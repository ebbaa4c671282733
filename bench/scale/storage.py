"""The storage section: bytes per symbol-year of the candle tables."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from bench.databases import fresh_database
from bench.scale.storage_month import month_round, print_month
from bench.synthetic import synthetic_klines
from include.platform import db, partitions
from include.platform.settings import DEFAULT_LIVE_RETENTION_DAYS as DEFAULT_RETENTION
from include.timeframes import build_timeframes

STORAGE_DB = "scale_bench_storage"
STORAGE_YEAR = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
# When the live retention is applied to that year; the days before it are what the live table
# holds then.
RETENTION_AT = datetime(2025, 12, 8, tzinfo=UTC)

# One year of 1m klines per symbol, with the digits real ones have (what numeric's size follows).
STORAGE_KLINES = synthetic_klines(
    values="""\
    symbol, open_time, open, greatest(open, close) + 1.37, least(open, close) - 0.91, close,
    volume, round(volume * open, 8), 400 + (m * 7919) %% 2600,
    round(volume * 0.47, 5), round(round(volume * 0.47, 5) * open, 8), 'dump_klines'""",
    per_minute="""\
        m,
        round((75000 + 15000 * sin(m / 20000.0))::numeric + (m * 7919 %% 10007) / 100.0, 2) as open,
        round(
            (75000 + 15000 * sin((m + 1) / 20000.0))::numeric + ((m + 1) * 7919 %% 10007) / 100.0,
            2
        )
            as close,
        round(0.5 + (m * 104729 %% 999983) / 10000.0, 5) as volume""",
)

STORAGE_LIVE = """
insert into market.candles_1m_live
select
    symbol, open_time, open, high, low, close, volume, quote_volume, trade_count,
    taker_buy_volume, taker_buy_quote_volume, true,
    3000000000 + extract(epoch from open_time)::bigint,
    3000000000 + extract(epoch from open_time)::bigint + trade_count - 1,
    open_time + interval '61 seconds'
from market.klines_1m
"""

# The live table's days before a moment: how many, and their table + indexes + TOAST.
LIVE_BEFORE = """
select count(*), coalesce(sum(pg_total_relation_size(partition)), 0)::bigint
from market.month_partitions('market.candles_1m_live')
where month_start < %s
"""

# Table + indexes + TOAST of every partition (and the DEFAULT one) of a partitioned table.
STORAGE_SIZE = """
select coalesce(sum(pg_total_relation_size(relid)), 0)::bigint
from pg_partition_tree(%s::regclass)
where isleaf
"""


def storage(args: argparse.Namespace) -> None:
    """Bytes per symbol-year: a synthetic year at rest, then the live month (the figure)."""
    server_url = db.resolve_database_url()
    at_rest = synthetic_year(server_url, args.storage_symbols)
    rounds = [
        month_round(server_url, args.storage_symbols, args) for _ in range(args.storage_rounds)
    ]
    print_month(rounds, at_rest, args)


def synthetic_year(server_url: str, symbols: int) -> float:
    """Bytes per symbol-year of market.klines_1m, the live table and every mart, the year's
    rows inserted at once (no update churn); the total at the default live retention."""
    url = fresh_database(server_url, STORAGE_DB)
    start, end = STORAGE_YEAR
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("market.klines_1m", "market.candles_1m_live"):
            conn.execute(
                "select market.ensure_month_partitions(%s::regclass, %s, %s)", (table, start, end)
            )
        conn.execute(STORAGE_KLINES, {"symbols": symbols, "start": start, "end": end})
        conn.execute(STORAGE_LIVE)
        conn.execute("vacuum analyze")
    build_timeframes(url, full_refresh=True, unit_tests=False)
    tables = [
        "market.klines_1m",
        "market.candles_1m_live",
        *(f"analytics.candles_{tf}" for tf in ("1m", "5m", "15m", "1h", "4h", "1d", "1w")),
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
        print(
            f"synthetic year at rest, per symbol-year ({symbols} symbols x 2025, "
            "table + indexes + TOAST, inserted at once, no update churn):"
        )
        sizes: dict[str, float] = {}
        for table in tables:
            sizes[table] = size = conn.execute(STORAGE_SIZE, (table,)).fetchone()[0] / symbols
            rows = (
                conn.execute(sql.SQL("select count(*) from {}").format(sql.SQL(table))).fetchone()[
                    0
                ]
                / symbols
            )
            kind = conn.execute(
                "select relkind from pg_class where oid = %s::regclass", (table,)
            ).fetchone()[0]
            if kind == "v":  # analytics.candles_1m: a view over klines and the live table
                layout = "a view: its rows are the tables' above"
            else:
                parts = conn.execute(
                    "select count(*) from market.month_partitions(%s::regclass)", (table,)
                ).fetchone()[0]
                layout = f"{parts} partitions"
            print(
                f"  {table:<26} {size / 1e6:8.1f} MB  {rows:9.0f} rows  "
                f"{size / max(rows, 1):6.0f} B/row  {layout}"
            )
        total = sum(sizes.values())
        print(f"  {'all of them':<26} {total / 1e6:8.1f} MB per symbol-year")
        # The live table as the default retention keeps it on RETENTION_AT: the days before it
        # that the retention leaves (binance_backfill_rest runs it once a day, so up to a day
        # more just before its run).
        live = sizes["market.candles_1m_live"]
        started = time.perf_counter()
        done = partitions.maintain(conn, now=RETENTION_AT, retention_days=DEFAULT_RETENTION)
        took = time.perf_counter() - started
        days, kept = conn.execute(LIVE_BEFORE, (RETENTION_AT,)).fetchone()
        kept /= symbols
        print(
            f"  market.candles_1m_live at the default retention ({DEFAULT_RETENTION} days) on "
            f"{RETENTION_AT:%Y-%m-%d %H:%M}: {kept / 1e6:.1f} MB in {days} days kept, "
            f"{len(done.dropped)} days dropped in {took:.1f} s (each proven covered by klines "
            f"first), {len(done.kept)} kept for a minute without its kline"
        )
        print(
            f"  {'all of them, at the default live retention':<26} "
            f"{(total - live + kept) / 1e6:.1f} MB per symbol-year"
        )
    return total - live + kept
