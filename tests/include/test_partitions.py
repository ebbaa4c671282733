"""Partitions (migration 0011): monthly, the live table daily; layout, in-place upgrade, far
months, live retention."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from include.cli import app
from include.history import klines_store
from include.jobs import live_retention
from include.platform import db, partitions
from include.platform.migrate import discover, migrate
from include.platform.times import to_ms

MARKET_TABLES = ("market.klines_1m", "market.candles_1m_live")
LIVE_INSERT = (
    "insert into market.candles_1m_live (symbol, open_time, open, high, low, close, volume, "
    "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, is_closed, "
    "first_trade_id, last_trade_id) "
    "select %s, t, 1.5, 2, 1, 1.75, 3, 4.5, 7, 1, 1.5, true, 10, 16 "
    "from generate_series(%s::timestamptz, %s::timestamptz, interval '1 minute') as t"
)
KLINE_INSERT = (
    "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, "
    "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source) "
    "select %s, t, 1.5, 2, 1, 1.75, 3, 4.5, 7, 1, 1.5, 'rest' "
    "from generate_series(%s::timestamptz, %s::timestamptz, interval '1 minute') as t"
)


def month_start(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_start(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def partition_of(conn: psycopg.Connection, table: str, symbol: str, at: datetime) -> str:
    """The partition a row lives in."""
    return conn.execute(
        f"select tableoid::regclass::text from {table} where symbol = %s and open_time = %s",
        (symbol, at),
    ).fetchone()[0]


def months(conn: psycopg.Connection, table: str) -> list[datetime]:
    return [
        r[0]
        for r in conn.execute(
            "select month_start from market.month_partitions(%s::regclass)", (table,)
        )
    ]


PLATFORM_ROLES = {"streamer_writer", "history_loader", "dbt_builder", "analytics_reader"}


ADDED_COLUMNS = {"market.candles_1m_live": ["from_klines"]}


def columns_of(conn: psycopg.Connection, table: str) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
            "and not attisdropped order by attnum",
            (table,),
        )
    ]


def table_state(conn: psycopg.Connection, table: str, columns: list[str] | None = None) -> dict:
    """Everything an upgrade must keep: rows (of the given columns, else all), triggers,
    indexes, constraints, grants, comment."""
    oid = conn.execute("select %s::regclass::oid", (table,)).fetchone()[0]
    listed = ", ".join(columns) if columns else "*"
    return {
        "rows": conn.execute(f"select {listed} from {table} order by symbol, open_time").fetchall(),
        "triggers": sorted(
            conn.execute(
                "select tgname, regexp_replace(pg_get_triggerdef(oid), ' ON \\S+ ', ' ON t ') "
                "from pg_trigger where tgrelid = %s and not tgisinternal",
                (oid,),
            ).fetchall()
        ),
        "indexes": sorted(
            conn.execute(
                "select c.relname, i.indisunique, i.indisprimary, "
                "array(select pg_get_indexdef(i.indexrelid, k, true) "
                "from generate_series(1, i.indnkeyatts) as k) "
                "from pg_index as i join pg_class as c on c.oid = i.indexrelid "
                "where i.indrelid = %s",
                (oid,),
            ).fetchall()
        ),
        "constraints": sorted(
            conn.execute(
                "select conname, contype, pg_get_constraintdef(oid) from pg_constraint "
                "where conrelid = %s and contype <> 'n'",
                (oid,),
            ).fetchall()
        ),
        "grants": sorted(
            conn.execute(
                "select grantee, privilege_type from information_schema.role_table_grants "
                "where table_schema || '.' || table_name = %s and grantee <> 'postgres'",
                (table,),
            ).fetchall()
        ),
        "comment": conn.execute("select obj_description(%s, 'pg_class')", (oid,)).fetchone(),
    }


def test_candle_tables_are_partitioned_by_month_with_the_design_key(conn) -> None:
    """After migrate both market candle tables are RANGE-partitioned on open_time, keyed by
    (symbol, open_time), with a DEFAULT partition: market.klines_1m by month, the current one
    and three ahead; market.candles_1m_live by day, today and LIVE_DAYS_AHEAD ahead."""
    # "Now" is when the database was migrated (the session's template, maybe yesterday when the
    # suite runs across midnight): the partitions are the ones migrate made then.
    migrated = conn.execute("select max(applied_at) from public.schema_migrations").fetchone()[0]
    this_month = month_start(migrated.astimezone(UTC))
    today = day_start(migrated.astimezone(UTC))
    for table in MARKET_TABLES:
        strategy, key = conn.execute(
            "select p.partstrat, a.attname from pg_partitioned_table as p "
            "join pg_attribute as a on a.attrelid = p.partrelid and a.attnum = p.partattrs[0] "
            "where p.partrelid = %s::regclass",
            (table,),
        ).fetchone()
        assert (strategy, key) == ("r", "open_time"), table
        primary = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint "
            "where conrelid = %s::regclass and contype = 'p'",
            (table,),
        ).fetchone()[0]
        assert primary == "PRIMARY KEY (symbol, open_time)", table
        assert conn.execute("select market.default_partition(%s)", (table,)).fetchone()[0]
        bounds = conn.execute(
            "select month_start, month_end from market.month_partitions(%s::regclass)",
            (table,),
        ).fetchall()
        if table == "market.candles_1m_live":
            assert [b[0] for b in bounds] == [
                today + timedelta(days=k) for k in range(partitions.LIVE_DAYS_AHEAD + 1)
            ]
            assert all(end - start == timedelta(days=1) for start, end in bounds)
            continue
        assert [b[0] for b in bounds][:4] == [
            month_start(this_month + timedelta(days=31 * k + 1)) for k in range(4)
        ], table
        assert all(
            month_start(end) == end and end - start >= timedelta(28) for start, end in bounds
        )


def test_upgrade_from_populated_0009_keeps_every_row_trigger_and_view(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Migrating a populated 0009 database to 0011 keeps every row, trigger, index, check, grant,
    comment and dependent view, and the live NOTIFY still fires from the partitioned table."""
    old = tmp_path / "old"
    old.mkdir()
    for migration in discover():
        if migration.version <= "0009":
            shutil.copy(migration.path, old / migration.path.name)
    migrate(empty_database_url, old)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(KLINE_INSERT, ("BTCUSDT", "2017-08-17T04:00Z", "2017-08-17T05:00Z"))
        conn.execute(KLINE_INSERT, ("BTCUSDT", "2024-12-31T23:30Z", "2025-01-01T00:30Z"))
        conn.execute(LIVE_INSERT, ("ETHUSDT", "2025-01-31T23:58Z", "2025-02-01T00:02Z"))
        # What users and dbt hang on the tables: a view, a role's grant, a dbt-built mart.
        conn.execute("create role upgrade_reader nologin")
        conn.execute("grant select on market.klines_1m, market.candles_1m_live to upgrade_reader")
        conn.execute(
            "create view public.kline_days as select symbol, date_trunc('day', open_time) as day,"
            " count(*) from market.klines_1m group by 1, 2"
        )
        conn.execute("create view public.kline_day_count as select count(*) from public.kline_days")
        conn.execute(
            "create table analytics.candles_1h as select symbol, open_time, open, now() as "
            "built_at from market.klines_1m"
        )
        conn.execute("create unique index mart_key on analytics.candles_1h (symbol, open_time)")
        tables = (*MARKET_TABLES, "analytics.candles_1h")
        before = {t: table_state(conn, t) for t in tables}
        columns_before = {t: columns_of(conn, t) for t in tables}
        views_before = conn.execute("select * from public.kline_days order by 1, 2").fetchall()

    applied = migrate(empty_database_url)

    assert applied == [m.version for m in discover() if m.version > "0009"]
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        for table in tables:
            assert conn.execute(
                "select relkind from pg_class where oid = %s::regclass", (table,)
            ).fetchone() == ("p",), table
            # The columns migrations add to tables users already had: a roll-up mart's
            # source_changed_at (0020), null in the rows built before it; the live table's
            # from_klines (0021), false in the rows written before it.
            added = [c for c in columns_of(conn, table) if c not in columns_before[table]]
            assert added == ADDED_COLUMNS.get(
                table, (["source_changed_at"] if table.startswith("analytics.") else [])
            )
            if added == ["source_changed_at"]:
                assert conn.execute(
                    f"select count(*) from {table} where source_changed_at is not null"
                ).fetchone() == (0,)
            if added == ["from_klines"]:
                assert conn.execute(
                    f"select count(*) from {table} where from_klines"
                ).fetchone() == (0,)
            after = table_state(conn, table, columns_before[table])
            # The platform's roles (migration 0010) get their grants from include/sql/grants.sql
            # on every migrate; what the upgrade must keep is everything else.
            after["grants"] = [g for g in after["grants"] if g[0] not in PLATFORM_ROLES]
            assert after == before[table], table
        assert conn.execute("select * from public.kline_days order by 1, 2").fetchall() == (
            views_before
        )
        assert conn.execute("select * from public.kline_day_count").fetchone() == (3,)
        assert partition_of(
            conn, "market.klines_1m", "BTCUSDT", datetime(2017, 8, 17, 4, 30, tzinfo=UTC)
        ) == ("market.klines_1m_p2017_08")
        assert (
            partition_of(
                conn, "market.candles_1m_live", "ETHUSDT", datetime(2025, 2, 1, tzinfo=UTC)
            )
            == "market.candles_1m_live_p2025_02_01"
        )
        assert conn.execute("select count(*) from market.klines_1m_default").fetchone() == (0,)
        assert conn.execute(
            "select count(*) from pg_class where relname like '%unpartitioned'"
        ).fetchone() == (0,)

        # The NOTIFY trigger of 0006 fires for rows written through the partitioned table.
        conn.execute("listen candles_1m")
        conn.execute(LIVE_INSERT, ("SOLUSDT", "2025-02-01T00:05Z", "2025-02-01T00:05Z"))
        notes = list(conn.notifies(timeout=5, stop_after=1))
        assert notes
        assert '"SOLUSDT"' in notes[0].payload


def test_a_month_far_in_the_past_and_next_month_insert(conn) -> None:
    """A minute of 2017, one of next month and one of tomorrow insert directly (no partition made
    first): next month's kline and tomorrow's live minute land in partitions of their own, 2017
    in the DEFAULT one until a partition is made for it (a day, for the live table), which then
    takes its rows; the loaders make 2017's partition before they write."""
    next_month = month_start(month_start(datetime.now(UTC)) + timedelta(days=40))
    tomorrow = day_start(datetime.now(UTC)) + timedelta(days=1)
    conn.execute(LIVE_INSERT, ("BTCUSDT", tomorrow, tomorrow + timedelta(minutes=2)))
    conn.execute(KLINE_INSERT, ("BTCUSDT", next_month, next_month))
    assert partition_of(conn, "market.candles_1m_live", "BTCUSDT", tomorrow) == (
        f"market.candles_1m_live_p{tomorrow:%Y_%m_%d}"
    )
    assert partition_of(conn, "market.klines_1m", "BTCUSDT", next_month) == (
        f"market.klines_1m_p{next_month:%Y_%m}"
    )
    far = datetime(2017, 8, 17, 4, 0, tzinfo=UTC)
    conn.execute(LIVE_INSERT, ("BTCUSDT", far, far + timedelta(minutes=9)))
    assert partition_of(conn, "market.candles_1m_live", "BTCUSDT", far) == (
        "market.candles_1m_live_default"
    )
    assert partitions.ensure_range(conn, "market.candles_1m_live", far, far) == 1
    assert partition_of(conn, "market.candles_1m_live", "BTCUSDT", far) == (
        "market.candles_1m_live_p2017_08_17"
    )
    assert conn.execute("select count(*) from market.candles_1m_live_p2017_08_17").fetchone() == (
        10,
    )
    assert conn.execute("select count(*) from market.candles_1m_live_default").fetchone() == (0,)

    # The loaders: a dump of 2018-02 goes straight into a partition of its own.
    start_ms = to_ms(datetime(2018, 2, 28, 23, 59, tzinfo=UTC))
    rows = [
        [start_ms + k * 60_000, "1.0", "2.0", "0.5", "1.5", "10.0", 0, "15.0", 3, "4.0", "6.0"]
        for k in range(2)
    ]
    with conn.transaction():
        assert klines_store.upsert_rest_klines(conn, "BTCUSDT", rows) == 2
    assert [
        partition_of(conn, "market.klines_1m", "BTCUSDT", when)
        for when in (datetime(2018, 2, 28, 23, 59, tzinfo=UTC), datetime(2018, 3, 1, tzinfo=UTC))
    ] == ["market.klines_1m_p2018_02", "market.klines_1m_p2018_03"]
    assert conn.execute("select count(*) from market.klines_1m_default").fetchone() == (0,)


def test_ensure_month_partitions_refuses_other_tables(conn) -> None:
    """The security-definer partition maker touches only the partitioned candle tables."""
    with pytest.raises(psycopg.errors.RaiseException, match="not a partitioned candle table"):
        conn.execute("select market.ensure_month_partitions('market.ingest_gaps', now(), now())")


def test_live_retention_drops_old_days_only_when_enabled(conn) -> None:
    """Without a retention nothing is dropped; with 40 days, only market.candles_1m_live's
    days that ended 40+ days ago go, whole, and of those only the ones whose every minute has
    its kline (2000's minute has none: kept); klines, the DEFAULT and newer days stay."""
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    for day in ("2025-12-20", "2026-01-20", "2026-02-03", "2026-03-10"):
        when = datetime.fromisoformat(day).replace(tzinfo=UTC)
        partitions.ensure_range(conn, "market.candles_1m_live", when, when)
        partitions.ensure_range(conn, "market.klines_1m", when, when)
        conn.execute(LIVE_INSERT, ("BTCUSDT", when, when + timedelta(minutes=4)))
        conn.execute(KLINE_INSERT, ("BTCUSDT", when, when + timedelta(minutes=4)))
    conn.execute(LIVE_INSERT, ("BTCUSDT", "2000-01-01T00:00Z", "2000-01-01T00:00Z"))
    live_months = months(conn, "market.candles_1m_live")

    kept = partitions.maintain(conn, now=now, retention_days=None)
    assert kept.dropped == []
    assert set(live_months) <= set(months(conn, "market.candles_1m_live"))

    done = partitions.maintain(conn, now=now, retention_days=40)

    # 40 days before 2026-03-15 12:00 is 2026-02-03 12:00: 2025-12-20 and 2026-01-20 end before
    # it, 2026-02-03 after it. (maintain first moved the DEFAULT partition's minute of 2000 into
    # a day of its own.)
    assert done.dropped == [
        "market.candles_1m_live_p2025_12_20",
        "market.candles_1m_live_p2026_01_20",
    ]
    assert done.kept == ["market.candles_1m_live_p2000_01_01"]
    assert conn.execute(
        "select date_trunc('month', open_time)::date::text, count(*) "
        "from market.candles_1m_live group by 1 order by 1"
    ).fetchall() == [("2000-01-01", 1), ("2026-02-01", 5), ("2026-03-01", 5)]
    assert conn.execute("select count(*) from market.klines_1m").fetchone() == (20,)
    assert conn.execute("select market.default_partition('market.candles_1m_live')").fetchone()[0]


def test_live_retention_days_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """LIVE_RETENTION_DAYS: 7 days unless set (empty is unset), 0 keeps everything; a bad value
    is refused."""

    def days(raw: str | None) -> int | None:
        if raw is None:
            monkeypatch.delenv("LIVE_RETENTION_DAYS", raising=False)
        else:
            monkeypatch.setenv("LIVE_RETENTION_DAYS", raw)
        return partitions.live_retention_days()

    assert days(None) == 7
    assert days("") == 7
    assert days("0") is None
    assert days("90") == 90
    with pytest.raises(ValueError, match="LIVE_RETENTION_DAYS"):
        days("ninety")


def live_months(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select to_char(open_time, 'YYYY-MM'), count(*) from market.candles_1m_live "
            "group by 1 order by 1"
        ).fetchall()


def test_migrate_drops_only_live_days_every_minute_of_which_has_its_kline(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """migrate (every start) drops a live day that ended more than LIVE_RETENTION_DAYS (7
    unless set) ago once each of its minutes has its official kline: a copy, which the kline
    beats in the 1m mart and rebuilds on a --full-refresh. A day with one minute Binance's
    klines do not hold is kept, whatever its age; 0 keeps everything."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for month in ("2020-05", "2020-06"):
            conn.execute(LIVE_INSERT, ("BTCUSDT", f"{month}-01T00:00Z", f"{month}-01T00:09Z"))
            conn.execute(LIVE_INSERT, ("ETHUSDT", f"{month}-03T00:00Z", f"{month}-03T00:04Z"))
        # Every June minute has its kline; May's ETHUSDT 00:04 has none (not backfilled yet).
        conn.execute(KLINE_INSERT, ("BTCUSDT", "2020-05-01T00:00Z", "2020-05-01T00:09Z"))
        conn.execute(KLINE_INSERT, ("ETHUSDT", "2020-05-03T00:00Z", "2020-05-03T00:03Z"))
        conn.execute(KLINE_INSERT, ("BTCUSDT", "2020-06-01T00:00Z", "2020-06-01T00:09Z"))
        conn.execute(KLINE_INSERT, ("ETHUSDT", "2020-06-03T00:00Z", "2020-06-03T00:04Z"))
        # This month, covered too, but not ended a week ago: kept.
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        conn.execute(LIVE_INSERT, ("BTCUSDT", minute, minute))
        conn.execute(KLINE_INSERT, ("BTCUSDT", minute, minute))
    this_month = minute.strftime("%Y-%m")
    monkeypatch.setenv("LIVE_RETENTION_DAYS", "0")
    migrate(database_url)
    assert live_months(database_url) == [("2020-05", 15), ("2020-06", 15), (this_month, 1)]

    monkeypatch.delenv("LIVE_RETENTION_DAYS")
    migrate(database_url)
    # May 1st went (covered), May 3rd stays for its minute without a kline.
    assert live_months(database_url) == [("2020-05", 5), (this_month, 1)]
    with psycopg.connect(database_url) as conn:
        # The klines and whatever else June held stay.
        assert conn.execute(
            "select count(*) from market.klines_1m where open_time < '2020-07-01'"
        ).fetchone() == (29,)

    # The missing kline is backfilled: the next start drops May 3rd.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(KLINE_INSERT, ("ETHUSDT", "2020-05-03T00:04Z", "2020-05-03T00:04Z"))
    migrate(database_url)
    assert live_months(database_url) == [(this_month, 1)]


def test_the_partitions_command_says_which_live_months_it_kept(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`partitions` names the days it dropped and those it kept for a minute without kline."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(LIVE_INSERT, ("BTCUSDT", "2020-05-01T00:00Z", "2020-05-01T00:01Z"))
        conn.execute(LIVE_INSERT, ("BTCUSDT", "2020-06-01T00:00Z", "2020-06-01T00:01Z"))
        conn.execute(KLINE_INSERT, ("BTCUSDT", "2020-06-01T00:00Z", "2020-06-01T00:01Z"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["partitions"])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("live retention")]
    assert line == (
        "live retention (7 days): dropped market.candles_1m_live_p2020_06_01; "
        "kept (a minute without its kline): market.candles_1m_live_p2020_05_01"
    )


def test_a_negative_retention_is_refused_before_anything_is_dropped(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`partitions --live-retention-days -1` (as LIVE_RETENTION_DAYS=-1 is) is a one-line error
    naming the option; the covered day it would have reached stays."""
    two_days_ago = day_start(datetime.now(UTC)) - timedelta(days=2)
    with psycopg.connect(database_url, autocommit=True) as conn:
        partitions.ensure_range(conn, "market.candles_1m_live", two_days_ago, two_days_ago)
        conn.execute(LIVE_INSERT, ("BTCUSDT", two_days_ago, two_days_ago))
        conn.execute(KLINE_INSERT, ("BTCUSDT", two_days_ago, two_days_ago))
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["partitions", "--live-retention-days", "-1"])
    assert result.exit_code == 2
    assert "--live-retention-days" in result.output
    with psycopg.connect(database_url) as conn:
        assert live_days(conn) == [f"market.candles_1m_live_p{two_days_ago:%Y_%m_%d}"]


def test_only_the_administrator_and_the_loader_may_drop_live_days(conn) -> None:
    """A role that is neither the administrator nor history_loader cannot run the live
    retention nor make months."""
    conn.execute("create role plain_reader nologin")
    conn.execute("grant usage on schema market to plain_reader")
    conn.execute("set role plain_reader")
    try:
        assert not partitions.may_drop_live_months(conn)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select market.drop_live_partitions(now() + interval '1 year')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select market.ensure_month_partitions('market.klines_1m', now(), now())")
    finally:
        conn.execute("reset role")
    assert partitions.may_drop_live_months(conn)


def test_a_trigger_dbt_builder_plants_never_runs_as_the_administrator(conn) -> None:
    """dbt_builder owns the marts, so it can put a trigger (or a check, or a default) on one.
    Making that table's months, by dbt_builder itself or by the administrator's maintenance,
    must never run it with the administrator's rights: dbt_builder makes its own months as
    itself, and the administrator's trusted path refuses a table it does not own."""
    conn.execute("create table public.trigger_runs (who text)")
    conn.execute("grant insert on public.trigger_runs to public")
    conn.execute("set role dbt_builder")
    try:
        conn.execute(
            "create table analytics.candles_1h (symbol text, open_time timestamptz not null) "
            "partition by range (open_time)"
        )
        conn.execute(
            "create table analytics.candles_1h_default partition of analytics.candles_1h default"
        )
        conn.execute(
            "insert into analytics.candles_1h values "
            "('X', '2001-01-01T00:00Z'), ('X', '2002-03-01T00:00Z')"
        )
        conn.execute(
            "create function analytics.spy() returns trigger language plpgsql as "
            "$$ begin insert into public.trigger_runs values (current_user); return null; end $$"
        )
        conn.execute(
            "create trigger spy after insert or delete on analytics.candles_1h "
            "for each row execute function analytics.spy()"
        )
        # Its own months, as itself (the trigger fires for the row moved out of the DEFAULT).
        assert (
            partitions.ensure_range(
                conn,
                "analytics.candles_1h",
                datetime(2001, 1, 1, tzinfo=UTC),
                datetime(2001, 2, 1, tzinfo=UTC),
            )
            == 1
        )
        # The administrator's SECURITY DEFINER path is closed to a table it does not own.
        with pytest.raises(psycopg.errors.RaiseException, match="belongs to dbt_builder"):
            conn.execute(
                "select market.make_trusted_month_partitions("
                "'analytics.candles_1h', '2002-03-01', null)"
            )
    finally:
        conn.execute("reset role")
    # The administrator neither makes dbt_builder's months by hand nor in its maintenance.
    with pytest.raises(psycopg.errors.RaiseException, match="belongs to dbt_builder"):
        conn.execute(
            "select market.ensure_month_partitions('analytics.candles_1h', '2002-03-01', null)"
        )
    done = partitions.maintain(conn)
    assert "analytics.candles_1h" not in done.created
    assert "market.klines_1m" in done.created
    runs = {row[0] for row in conn.execute("select who from public.trigger_runs")}
    assert runs == {"dbt_builder"}


def test_a_row_written_to_the_default_partition_while_its_month_is_made_is_kept(
    database_url: str,
) -> None:
    """A writer commits rows of a month into the DEFAULT partition while that month is being
    made: the maker waits for it and moves them (before, it copied and deleted in two
    statements and the attach then failed, or the rows were lost)."""
    made: dict[str, object] = {}

    def make_month() -> None:
        with psycopg.connect(database_url, autocommit=True) as maker:
            try:
                made["n"] = partitions.ensure_range(
                    maker, "market.klines_1m",
                    datetime(2001, 5, 1, tzinfo=UTC), datetime(2001, 5, 2, tzinfo=UTC),
                )  # fmt: skip
            except psycopg.Error as err:
                made["error"] = err

    with (
        psycopg.connect(database_url) as writer,
        psycopg.connect(database_url, autocommit=True) as watch,
    ):
        writer.execute(KLINE_INSERT, ("BTCUSDT", "2001-05-01T00:00Z", "2001-05-01T00:09Z"))
        maker = threading.Thread(target=make_month)
        maker.start()
        deadline = time.monotonic() + 20
        while (
            time.monotonic() < deadline
            and not watch.execute(
                "select exists (select from pg_stat_activity where datname = current_database() "
                "and wait_event_type = 'Lock')"
            ).fetchone()[0]
        ):
            time.sleep(0.05)
        writer.commit()
        maker.join(30)
        assert made == {"n": 1}
        assert watch.execute("select count(*) from market.klines_1m_p2001_05").fetchone() == (10,)
        assert watch.execute("select count(*) from market.klines_1m_default").fetchone() == (0,)


def live_days(conn: psycopg.Connection) -> list[str]:
    """The live table's partitions that hold rows."""
    return [
        r[0]
        for r in conn.execute(
            "select distinct tableoid::regclass::text from market.candles_1m_live order by 1"
        )
    ]


def test_the_loader_drops_the_live_days_klines_cover_and_never_the_newest(
    database_url: str,
) -> None:
    """history_loader (binance_backfill_rest's last task) runs the retention without the
    administrator's password: a covered day past LIVE_RETENTION_DAYS goes, a day with a minute
    missing its kline stays, and even asked for everything it leaves the last day alone (the
    streamer still writes it)."""
    today = day_start(datetime.now(UTC))
    old, gap = today - timedelta(days=10), today - timedelta(days=9)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for day in (old, gap, today - timedelta(days=1), today):
            conn.execute(LIVE_INSERT, ("BTCUSDT", day, day + timedelta(minutes=4)))
            conn.execute(KLINE_INSERT, ("BTCUSDT", day, day + timedelta(minutes=4)))
        conn.execute(
            "delete from market.klines_1m where open_time = %s", (gap + timedelta(minutes=2),)
        )
    loader = db.role_url(database_url, db.LOADER)

    done = live_retention(7, database_url=loader)

    assert done["dropped"] == [f"market.candles_1m_live_p{old:%Y_%m_%d}"]
    assert done["kept"] == [f"market.candles_1m_live_p{gap:%Y_%m_%d}"]
    assert not done["deferred"]
    with psycopg.connect(loader) as conn:
        assert conn.execute("select session_user").fetchone() == (db.LOADER,)
        # Asked to drop up to a year ahead, the loader still leaves yesterday and today, both
        # covered (and the day missing a kline).
        dropped = conn.execute(
            "select market.drop_live_partitions(now() + interval '1 year')"
        ).fetchall()
        assert dropped == []
        assert live_days(conn) == [
            f"market.candles_1m_live_p{d:%Y_%m_%d}" for d in (gap, today - timedelta(days=1), today)
        ]


def test_the_retention_defers_instead_of_stalling_the_streamer(database_url: str) -> None:
    """Dropping a day locks the whole live table, and every writer queues behind a drop that
    waits: while a reader holds the table (a long dbt build), the retention gives up after
    LIVE_LOCK_TIMEOUT, drops nothing, and the streamer's write goes through right after; the
    next run drops the day."""
    today = day_start(datetime.now(UTC))
    old = today - timedelta(days=10)
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    with psycopg.connect(database_url, autocommit=True) as conn:
        partitions.ensure_range(conn, "market.candles_1m_live", old, old)
        conn.execute(LIVE_INSERT, ("BTCUSDT", old, old + timedelta(minutes=4)))
        conn.execute(KLINE_INSERT, ("BTCUSDT", old, old + timedelta(minutes=4)))
    written: dict[str, float] = {}

    def stream() -> None:
        time.sleep(1)  # the retention's drop is waiting by now
        started = time.monotonic()
        with psycopg.connect(db.role_url(database_url, db.STREAMER), autocommit=True) as conn:
            conn.execute(LIVE_INSERT, ("ETHUSDT", minute, minute))
        written["seconds"] = time.monotonic() - started

    with psycopg.connect(database_url) as reader:
        reader.execute("select count(*) from market.candles_1m_live").fetchone()
        writer = threading.Thread(target=stream)
        writer.start()
        began = time.monotonic()
        done = live_retention(7, database_url=database_url)
        waited = time.monotonic() - began
        writer.join(30)
        reader.rollback()
    assert done["deferred"]
    assert done["dropped"] == []
    timeout = float(partitions.LIVE_LOCK_TIMEOUT.removesuffix("s"))
    assert timeout <= waited < timeout + 5
    assert written["seconds"] < timeout + 2
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert f"market.candles_1m_live_p{old:%Y_%m_%d}" in live_days(conn)
        assert live_retention(7, database_url=database_url)["dropped"] == [
            f"market.candles_1m_live_p{old:%Y_%m_%d}"
        ]
