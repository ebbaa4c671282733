"""The storage section's figure: bytes per symbol-year after a live month (bench/scale/
live_month.py plays it), at the default live retention."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from bench.databases import fresh_database
from bench.scale.live_month import MONTH_START, MonthDone, after_days, live_month

STORAGE_LIVE_DB = "scale_bench_storage_live"
MARTS = ("5m", "15m", "1h", "4h", "1d", "1w")

# Table + indexes + TOAST of a table's partitions overlapping [start, end) (the month's; the
# empty ones made ahead are not the month's bytes).
PARTS_SIZE = """
select coalesce(sum(pg_total_relation_size(partition)), 0)::bigint, count(*)
from market.month_partitions(%s::regclass)
where month_start < %s and month_end > %s
"""


@dataclass
class MonthRound:
    """One played month: MB per symbol-year by table (the live table: what it holds), the
    live days it holds, and what the month did."""

    per_year: dict[str, float]
    live_days: int
    done: MonthDone

    @property
    def total(self) -> float:
        return sum(self.per_year.values())


def month_round(server_url: str, symbols: int, args: argparse.Namespace) -> MonthRound:
    """Play the month on a fresh database and measure it."""
    url = fresh_database(server_url, STORAGE_LIVE_DB)
    days = args.storage_days
    done = live_month(url, symbols, args.storage_updates, args.storage_dbt_every, days)
    start, end = MONTH_START, MONTH_START + timedelta(days=days)
    per_year: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        # Klines and marts grow with time: the month's bytes, scaled to a year.
        for table in ("market.klines_1m", *(f"analytics.candles_{tf}" for tf in MARTS)):
            size, _ = conn.execute(PARTS_SIZE, (table, end, start)).fetchone()
            per_year[table] = size / symbols * 365 / days / 1e6
        # The live table does not: it holds the days the retention leaves, whatever the
        # platform's age (today's included, the emptied days made ahead not).
        size, live_days = conn.execute(
            PARTS_SIZE,
            ("market.candles_1m_live", end + timedelta(days=after_days(days) + 1), start),
        ).fetchone()
        per_year["market.candles_1m_live"] = size / symbols / 1e6
    return MonthRound(per_year, live_days, done)


def spread(values: list[float]) -> str:
    """Median, with the range when more than one round."""
    median = statistics.median(values)
    return f"{median:.1f}" + (f" ({min(values):.1f}-{max(values):.1f})" if len(values) > 1 else "")


def print_month(rounds: list[MonthRound], at_rest: float, args: argparse.Namespace) -> None:
    first = rounds[0]
    d = first.done
    symbols, updates, days = args.storage_symbols, args.storage_updates, args.storage_days
    print(
        f"live month ({days} day(s) from {MONTH_START:%Y-%m-%d}, and {after_days(days)} after "
        f"it; {symbols} symbols x {updates} "
        f"trades a minute each, named BTCUSDT, PEPEUSDT, ...; {len(rounds)} round(s)), MB per "
        "symbol-year "
        "(klines and marts: the month's partitions x 365/days; the live table: what it holds):"
    )
    for table in first.per_year:
        values = [r.per_year[table] for r in rounds]
        note = f"  {first.live_days} days held" if table.endswith("_live") else ""
        print(f"  {table:<26} {spread(values):>18} MB{note}")
    av = d.autovacuum
    assert av is not None
    inserts = d.minutes * symbols
    print(
        "  real: the streamer's Aggregator and Writer, the backfill's klines writer, "
        "partitions.maintain (retention, days ahead), dbt build, the roles, PostgreSQL with "
        "its autovacuum; trades BTC-like, every symbol trading every minute; "
        f"{d.flushes} writer flushes, {av.analyzes} analyzes alone, in {d.seconds / 60:.1f} min"
    )
    totals = [r.total for r in rounds]
    print(
        f"storage per symbol-year after a live month, at the default live retention (7 days): "
        f"{spread(totals)} MB (target <= 150); a synthetic year at rest: {at_rest / 1e6:.1f} MB"
    )
    print(
        f"simulated: {inserts} minute rows, {d.rows_written - inserts} updates ({updates}/min "
        f"each, the close included), {d.klines} klines, {d.retention_runs} retention runs "
        f"({d.days_dropped} days dropped), {d.builds} dbt builds, {av.vacuums} vacuums by "
        "autovacuum's rule"
    )
    rebuilt = ", ".join(d.rebuilt) or "none (the month is not over)"
    print(f"indexes rebuilt by the DAGs' rebuild_indexes tasks: {rebuilt}")
    print(
        f"shortcuts: maintenance on the simulated clock, klines = the streamer's minutes (no "
        f"REST), dbt every {args.storage_dbt_every} min + after the klines (not every 5), "
        "autovacuum's rule applied each minute at once, heal-gaps not run (no holes)"
    )
