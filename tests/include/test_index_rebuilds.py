"""Index rebuilds of finished months (migration 0025, include/platform/index_rebuilds.py): the
loader packs the klines' months, dbt_builder its marts', neither the other's; a month is rebuilt
once, and again only after a tenth of its rows were written anew."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from include.cli import app
from include.jobs import rebuild_indexes
from include.platform import db, index_rebuilds

MONTH = datetime(2025, 11, 1, tzinfo=UTC)
PART = "market.klines_1m_p2025_11"
# Symbols of 10 characters: a day appended to each symbol's part of the key splits its pages
# in half (what the rebuild is for); 4 symbols x 10 days.
SYMBOLS = ("AAAAAAUSDT", "BBBBBBUSDT", "CCCCCCUSDT", "DDDDDDUSDT")
DAYS = 10
KLINE_DAY = (
    "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, "
    "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source) "
    "select %s, t, 1.5, 2, 1, 1.75, 3, 4.5, 7, 1, 1.5, 'rest' "
    "from generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute', "
    "interval '1 minute') as t "
    "on conflict (symbol, open_time) do update set close = excluded.close + 1"
)
ROWS_DIGEST = (
    "select count(*), md5(string_agg(k::text, ',' order by symbol, open_time)) "
    "from market.klines_1m as k where open_time >= %s and open_time < %s"
)


def load_days(url: str, days: range, symbols: tuple[str, ...] = SYMBOLS) -> None:
    """Each day, each symbol's 1,440 klines in a transaction of its own, as the daily backfill
    writes them (history_loader); its statistics sent before the session ends."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select market.ensure_month_partitions('market.klines_1m', %s, null)", (MONTH,)
        )
        for day in days:
            start = MONTH + timedelta(days=day)
            for symbol in symbols:
                conn.execute(KLINE_DAY, (symbol, start, start + timedelta(days=1)))
        conn.execute("select pg_stat_force_next_flush()")
        conn.execute("select 1")


def pkey_bytes(conn: psycopg.Connection) -> int:
    return conn.execute("select pg_relation_size(%s)", (f"{PART}_pkey",)).fetchone()[0]


def test_the_loader_packs_a_finished_month_once_and_leaves_the_current_one(
    database_url: str,
) -> None:
    """After a month of daily loads the loader's run packs its primary key (same rows, about
    two thirds of the pages), records what it did, and a second run rebuilds nothing; this
    month's partition, still written, is left alone."""
    loader = db.role_url(database_url, db.LOADER)
    load_days(loader, range(DAYS))
    now = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with psycopg.connect(loader, autocommit=True) as conn:
        conn.execute("select market.ensure_month_partitions('market.klines_1m', %s, null)", (now,))
        conn.execute(KLINE_DAY, (SYMBOLS[0], now, now + timedelta(hours=1)))
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = pkey_bytes(conn)
        rows_before = conn.execute(ROWS_DIGEST, (MONTH, MONTH + timedelta(days=31))).fetchone()

    done = rebuild_indexes("klines", database_url=loader)

    current = f"market.klines_1m_p{now:%Y_%m}"
    assert PART in done["rebuilt"]
    assert current not in done["rebuilt"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        after = pkey_bytes(conn)
        assert after < 0.75 * before, (before, after)
        assert conn.execute(ROWS_DIGEST, (MONTH, MONTH + timedelta(days=31))).fetchone() == (
            rows_before
        )
        recorded = conn.execute(
            "select index_bytes_before > index_bytes_after from market.partition_rebuilds "
            "where relation = %s",
            (PART,),
        ).fetchone()
        assert recorded == (True,)
        # The planner reads the packed key.
        plan = conn.execute(
            "explain select * from market.klines_1m where symbol = 'BBBBBBUSDT' "
            "and open_time >= '2025-11-03' and open_time < '2025-11-04'"
        ).fetchall()
        assert "klines_1m_p2025_11_pkey" in str(plan)
    assert rebuild_indexes("klines", database_url=loader)["rebuilt"] == {}


def test_a_month_written_anew_is_rebuilt_again_a_day_after_its_last_rebuild(
    database_url: str,
) -> None:
    """A backfill that writes a tenth of a finished month's rows again makes it due again, once
    a day has passed since its last rebuild; a few rows do not."""
    loader = db.role_url(database_url, db.LOADER)
    load_days(loader, range(DAYS))
    assert PART in rebuild_indexes("klines", database_url=loader)["rebuilt"]
    load_days(loader, range(1), SYMBOLS[:1])  # 1,440 of 57,600 rows
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update market.partition_rebuilds set rebuilt_at = now() - interval '2 days'")
    assert rebuild_indexes("klines", database_url=loader)["rebuilt"] == {}
    load_days(loader, range(2))  # 11,520 more rows written again
    assert PART in rebuild_indexes("klines", database_url=loader)["rebuilt"]


def test_neither_role_rebuilds_or_marks_the_others_months(database_url: str) -> None:
    """dbt_builder may neither rebuild the klines' months nor record one as rebuilt (which
    would keep the loader from packing it); the loader may not record a mart's month."""
    loader = db.role_url(database_url, db.LOADER)
    builder = db.role_url(database_url, db.BUILDER)
    load_days(loader, range(2))
    with psycopg.connect(builder, autocommit=True) as conn:
        # A table of dbt_builder's own, as its marts are.
        conn.execute("create table analytics.builders_own (a integer primary key)")

    assert rebuild_indexes("klines", database_url=builder)["rebuilt"] == {}
    with psycopg.connect(builder, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"reindex table concurrently {PART}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "insert into market.partition_rebuilds values "
                "(%s::regclass, %s, now(), 0, 0, 0, 0)",
                (PART, PART),
            )
        assert conn.execute("select count(*) from market.partition_rebuilds").fetchone() == (0,)
    with (
        psycopg.connect(loader, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(
            "insert into market.partition_rebuilds values "
            "('analytics.builders_own'::regclass, 'x', now(), 0, 0, 0, 0)"
        )
    assert PART in rebuild_indexes("klines", database_url=loader)["rebuilt"]


def test_an_index_a_failed_rebuild_left_is_dropped_by_the_owner(database_url: str) -> None:
    """A REINDEX CONCURRENTLY that failed midway leaves an invalid `_ccnew` index, which every
    insert still writes: the loader, not its owner, skips that month and says so; the
    administrator's migrate drops the index, and the month is packed at the next run."""
    loader = db.role_url(database_url, db.LOADER)
    load_days(loader, range(2))
    with psycopg.connect(database_url, autocommit=True) as conn:
        # What a failed rebuild leaves: an index marked invalid, named as PostgreSQL names it.
        conn.execute(f"create index klines_1m_p2025_11_pkey_ccnew on {PART} (symbol, open_time)")
        conn.execute(
            "update pg_index set indisvalid = false "
            "where indexrelid = 'market.klines_1m_p2025_11_pkey_ccnew'::regclass"
        )
    done = rebuild_indexes("klines", database_url=loader)
    assert done["blocked"] == [PART]
    assert done["rebuilt"] == {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert index_rebuilds.drop_failed(conn) == ["market.klines_1m_p2025_11_pkey_ccnew"]
    assert PART in rebuild_indexes("klines", database_url=loader)["rebuilt"]


def test_the_command_rebuilds_as_the_administrator(database_url: str) -> None:
    """`include.cli rebuild-indexes` does both roles' work as the administrator, and says what
    each month's indexes were and became."""
    load_days(db.role_url(database_url, db.LOADER), range(DAYS))

    result = CliRunner().invoke(app, ["rebuild-indexes"])

    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith(f"{PART}: indexes "))
    before, after = (float(v) for v in re.findall(r"([0-9.]+)", line.split(": indexes ")[1]))
    assert after < before
    assert CliRunner().invoke(app, ["rebuild-indexes"]).output == "index rebuilds: done\n"


def test_a_month_another_run_is_rebuilding_is_left_to_it(database_url: str) -> None:
    """binance_backfill_rest runs up to four days at once: a month one run is rebuilding is
    left by the others (not rebuilt twice, nor waited for), and rebuilt by the next run."""
    loader = db.role_url(database_url, db.LOADER)
    load_days(loader, range(2))
    with psycopg.connect(loader, autocommit=True) as other:
        with index_rebuilds.claimed(other, PART) as mine:
            assert mine
            done = rebuild_indexes("klines", database_url=loader)
        assert done["rebuilt"] == {}
        assert done["left"] == [PART]
    assert PART in rebuild_indexes("klines", database_url=loader)["rebuilt"]
