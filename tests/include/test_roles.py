"""The least-privilege roles of DESIGN.md "Database roles": what each may do, and how it logs in."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import errors

from include.platform import db, pgserver
from include.platform.migrate import migrate

ROLES = (db.STREAMER, db.LOADER, db.BUILDER, db.READER)
WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
# Every write privilege a role holds on a market table; anything not listed is refused.
EXPECTED_WRITES = {
    db.STREAMER: {
        "candles_1m_live": {"INSERT", "UPDATE"},
        # SECOND_CANDLE_SYMBOLS' seconds, deleted after SECOND_CANDLE_RETENTION by the streamer.
        "candles_1s_live": {"INSERT", "UPDATE", "DELETE"},
        "ingest_gaps": {"INSERT", "UPDATE"},
        "rest_weight_windows": {"INSERT", "UPDATE", "DELETE"},
    },
    db.LOADER: {
        "klines_1m": {"INSERT", "UPDATE", "DELETE"},
        "ingest_gaps": {"INSERT", "UPDATE"},
        "symbols": {"INSERT", "UPDATE"},
        "imported_files": {"INSERT", "UPDATE"},
        "heal_watermarks": {"INSERT", "UPDATE"},
        "reconciliations": {"INSERT", "UPDATE"},
        "reconcile_mismatches": {"INSERT", "UPDATE"},
        "timeframe_dirty_ranges": {"INSERT"},
        "rest_weight_windows": {"INSERT", "UPDATE", "DELETE"},
        # Its own rows only (the table's policy): the klines' months it rebuilt.
        "partition_rebuilds": {"INSERT", "UPDATE"},
    },
    db.BUILDER: {
        "timeframe_dirty_ranges": {"DELETE"},
        "rebuilt_runs": {"INSERT", "DELETE"},
        "partition_rebuilds": {"INSERT", "UPDATE"},
    },
    db.READER: {},
}
# A futures market's schema (DESIGN.md "Futures markets"): each role keeps its job there (dbt's
# rebuilt runs too, migration 0024), the platform-wide weight budget stays spot's, and the
# loader also writes the series only futures have.
FUTURES_SERIES = (
    "mark_price_klines_1m",
    "index_price_klines_1m",
    "premium_index_klines_1m",
    "funding_rates",
)
PLATFORM_WIDE = ("rest_weight_windows", "partition_rebuilds")
SERIES_WRITES = {t: {"INSERT", "UPDATE", "DELETE"} for t in FUTURES_SERIES}
EXPECTED_FUTURES_WRITES = {
    role: {
        **{t: held for t, held in writes.items() if t not in PLATFORM_WIDE},
        **(SERIES_WRITES if role == db.LOADER else {}),
    }
    for role, writes in EXPECTED_WRITES.items()
}
T0 = datetime(2024, 1, 1, tzinfo=UTC)
CANDLE = (T0, 1, 1, 1, 1, 1, 1, 1, 1, 1)
LIVE_INSERT = (
    "insert into market.candles_1m_live (symbol, open_time, open, high, low, close, volume, "
    "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume) "
    "values ('BTCUSDT', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
KLINE_INSERT = (
    "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, "
    "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source) "
    "values ('BTCUSDT', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'rest')"
)


def refused(url: str, statement: str, params: tuple = ()) -> bool:
    """Whether the role of url is refused the statement for lack of privilege."""
    with psycopg.connect(url) as conn:
        try:
            conn.execute(statement, params)
        except errors.InsufficientPrivilege:
            return True
        conn.rollback()
        return False


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ("market", EXPECTED_WRITES),
        ("market_usdm", EXPECTED_FUTURES_WRITES),
        ("market_coinm", EXPECTED_FUTURES_WRITES),
    ],
)
def test_each_role_holds_exactly_its_write_privileges(
    conn: psycopg.Connection, schema: str, expected: dict[str, dict[str, set[str]]]
) -> None:
    """Over every table of a market's raw schema (spot's, each futures market's), each role
    holds the writes DESIGN gives it and no other, and reads them all."""
    tables = [
        r[0]
        for r in conn.execute("select tablename from pg_tables where schemaname = %s", (schema,))
    ]
    assert "klines_1m" in tables
    assert len(tables) >= 9
    for role in ROLES:
        for table in tables:
            held = {
                p
                for p in WRITES
                if conn.execute(
                    "select has_table_privilege(%s, %s, %s)", (role, f"{schema}.{table}", p)
                ).fetchone()[0]
            }
            assert held == expected[role].get(table, set()), (role, table)
            assert conn.execute(
                "select has_table_privilege(%s, %s, 'SELECT')", (role, f"{schema}.{table}")
            ).fetchone()[0], (role, table)
        attributes = conn.execute(
            "select rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolbypassrls "
            "from pg_roles where rolname = %s",
            (role,),
        ).fetchone()
        assert attributes == (False, False, False, True, False), role


def test_the_streamer_role_writes_live_candles_and_nothing_of_history(database_url: str) -> None:
    """streamer_writer inserts live candles as itself, and is refused market.klines_1m."""
    url = db.role_url(database_url, db.STREAMER)
    with psycopg.connect(url) as conn:
        assert conn.execute("select session_user").fetchone() == (db.STREAMER,)
        conn.execute(LIVE_INSERT, CANDLE)
    assert refused(url, KLINE_INSERT, CANDLE)
    assert refused(url, "delete from market.candles_1m_live")
    assert refused(url, "insert into market.symbols (symbol, status) values ('X', 'TRADING')")


def test_the_loader_role_writes_history_and_not_live_candles(database_url: str) -> None:
    """history_loader writes klines, gaps and its bookkeeping; live candles are refused."""
    url = db.role_url(database_url, db.LOADER)
    with psycopg.connect(url) as conn:
        conn.execute(KLINE_INSERT, CANDLE)
        conn.execute("insert into market.symbols (symbol, status) values ('BTCUSDT', 'TRADING')")
        conn.execute(
            "insert into market.timeframe_dirty_ranges (symbol, range_start, range_end) "
            "values ('BTCUSDT', %s, %s + interval '1 minute')",
            (T0, T0),
        )
    assert refused(url, LIVE_INSERT, CANDLE)
    assert refused(url, "delete from market.timeframe_dirty_ranges")
    assert refused(url, "create table analytics.mine (v int)")


def test_the_builder_role_owns_analytics_and_reads_market(database_url: str) -> None:
    """dbt_builder creates and drops tables in analytics, reads market, and writes no history."""
    url = db.role_url(database_url, db.BUILDER)
    with psycopg.connect(url) as conn:
        conn.execute("create table analytics.probe as select * from market.klines_1m")
        conn.execute("create view analytics_staging.probe as select 1 as v")
        conn.execute("delete from market.timeframe_dirty_ranges")
        conn.execute("drop table analytics.probe")
    assert refused(url, KLINE_INSERT, CANDLE)
    assert refused(url, LIVE_INSERT, CANDLE)


def test_the_reader_role_reads_market_and_analytics_and_writes_nothing(
    database_url: str,
) -> None:
    """analytics_reader reads market and what dbt_builder builds in analytics; every write,
    and every table or schema it might create, is refused."""
    builder = db.role_url(database_url, db.BUILDER)
    with psycopg.connect(builder) as conn:
        conn.execute("create table analytics.built (v int)")
        conn.execute("insert into analytics.built values (1)")
    url = db.role_url(database_url, db.READER)
    with psycopg.connect(url) as conn:
        assert conn.execute("select v from analytics.built").fetchall() == [(1,)]
        conn.execute("select count(*) from market.klines_1m").fetchone()
        conn.execute("select count(*) from market.candles_1m_live").fetchone()
    assert refused(url, LIVE_INSERT, CANDLE)
    assert refused(url, KLINE_INSERT, CANDLE)
    assert refused(url, "insert into analytics.built values (2)")
    assert refused(url, "delete from market.ingest_gaps")
    assert refused(url, "update market.heal_watermarks set checked_until = now()")
    assert refused(url, "create table analytics.mine (v int)")
    assert refused(url, "create table market.mine (v int)")
    assert refused(url, "create table public.mine (v int)")
    assert refused(url, "create schema mine")
    assert refused(url, "select * from public.schema_migrations")


def test_migrate_hands_analytics_made_by_the_administrator_to_dbt_builder(
    database_url: str, conn: psycopg.Connection
) -> None:
    """A mart the administrator made (a build before the roles, a pg_restore --no-owner) is
    dbt_builder's after the next migrate, which leaves alone what dbt_builder already owns."""
    conn.execute("create table analytics.restored (v int)")
    conn.execute("create view analytics_staging.restored as select 1 as v")
    owners = "select relname, pg_get_userbyid(relowner) from pg_class where relname = 'restored'"
    assert set(conn.execute(owners).fetchall()) == {("restored", pgserver.SUPERUSER)}
    assert migrate(database_url) == []
    assert conn.execute(owners).fetchall() == [("restored", db.BUILDER)] * 2
    with psycopg.connect(db.role_url(database_url, db.BUILDER)) as builder:
        builder.execute("drop table analytics.restored")
        builder.execute("drop view analytics_staging.restored")


def test_no_role_logs_in_over_tcp_without_its_password(
    pg_server: pgserver.PgServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over TCP the embedded server asks every role for its password, the superuser's too: none
    logs in without one or with a wrong one, each logs in with its own."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    secret = pgserver.password_file(pg_server.pgdata)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert secret.read_text().strip() == pg_server.password
    database = urlsplit(database_url).path.lstrip("/")
    for user in (*ROLES, pgserver.SUPERUSER):
        for login in (user, f"{user}:wrong"):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(f"postgresql://{login}@127.0.0.1:{pg_server.port}/{database}")
    for role in ROLES:
        with psycopg.connect(db.role_url(database_url, role)) as conn:
            assert conn.execute("select current_user").fetchone() == (role,)


def test_migrate_generates_role_passwords_into_data_dir(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without passwords in the environment, migrate generates each role's into DATA_DIR/secrets
    (file 0600, directory 0700), keeps it on the next run, and the role logs in with it."""
    saved = {role: db.role_password(role) for role in ROLES}
    try:
        with monkeypatch.context() as patch:
            patch.setenv("DATA_DIR", str(tmp_path))
            for role in ROLES:
                for variable in db.role_variables(role):
                    patch.delenv(variable, raising=False)
                with pytest.raises(RuntimeError, match=r"python -m include\.cli migrate"):
                    db.role_url(empty_database_url, role)
            migrate(empty_database_url)
            files = {role: db.role_password_file(role) for role in ROLES}
            assert all(f.parent == tmp_path / "secrets" for f in files.values())
            assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
            first = {}
            for role, path in files.items():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, role
                first[role] = path.read_text()
                assert len(first[role].strip()) >= 32
            migrate(empty_database_url)
            assert {role: path.read_text() for role, path in files.items()} == first
            assert len(set(first.values())) == len(ROLES)
            for role in ROLES:
                url = db.role_url(empty_database_url, role)
                assert first[role].strip() in url
                with psycopg.connect(url) as conn:
                    assert conn.execute("select session_user").fetchone() == (role,)
    finally:
        # Roles are the server's: give them back the session's passwords for the other tests.
        assert saved == {role: db.role_password(role) for role in ROLES}
        with psycopg.connect(empty_database_url, autocommit=True) as conn:
            db.set_role_passwords(conn)


def test_a_role_url_in_the_environment_wins(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """<PREFIX>_DATABASE_URL is used as given; <PREFIX>_DATABASE_PASSWORD, any characters in
    it, goes into DATABASE_URL's server and database as the role."""
    monkeypatch.setenv("LOADER_DATABASE_URL", "postgresql://someone:pw@db.example/other")
    assert db.resolve_role_url(db.LOADER) == "postgresql://someone:pw@db.example/other"
    monkeypatch.setenv("DBT_DATABASE_PASSWORD", "p@ss:w/rd")
    url = db.resolve_role_url(db.BUILDER)
    parts = urlsplit(url)
    assert (parts.username, parts.hostname, parts.port, parts.path) == (
        db.BUILDER,
        urlsplit(database_url).hostname,
        urlsplit(database_url).port,
        urlsplit(database_url).path,
    )
    assert parts.password == "p%40ss%3Aw%2Frd"


def test_migrate_strips_a_roles_server_wide_privileges_and_refuses_a_membership(
    database_url: str,
) -> None:
    """Roles belong to the server: one made before the platform (by hand, by another install)
    is kept, but not as it was. A superuser or createrole streamer_writer loses those rights
    on the next migrate; a role that is a member of another (so holds its rights) is refused
    with a message naming the grant to revoke."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"alter role {db.STREAMER} superuser createrole")
        try:
            migrate(database_url)
            attrs = conn.execute(
                "select rolsuper, rolcreaterole from pg_roles where rolname = %s", (db.STREAMER,)
            ).fetchone()
            assert attrs == (False, False)
            conn.execute(f"grant {db.LOADER} to {db.READER}")
            with pytest.raises(Exception, match=f"revoke {db.LOADER} from {db.READER}"):
                migrate(database_url)
        finally:
            conn.execute(f"alter role {db.STREAMER} nosuperuser nocreaterole")
            conn.execute(f"revoke {db.LOADER} from {db.READER}")


def test_airflow_metadata_is_its_own_roles_and_the_reader_sees_only_outcomes(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow's metadata database belongs to its own login role, not the administrator: one
    an earlier version made as the administrator (tables, a serial, an enum) is handed over;
    the role's password is generated into DATA_DIR/secrets (0600) and kept; analytics_reader
    may then read dag_run and task_instance (Grafana) and nothing else there."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_DATABASE_PASSWORD", raising=False)
    db.ensure_database(database_url, "meta_handover")
    old = db.with_database(database_url, "meta_handover")
    with psycopg.connect(old, autocommit=True) as conn:
        conn.execute("create type public.dagrunstate as enum ('queued', 'success')")
        conn.execute("create table public.dag_run (id serial primary key, state dagrunstate)")
        conn.execute("create table public.task_instance (id int)")
        conn.execute("create table public.variable (val text)")
        conn.execute("insert into public.variable values ('secret')")
    url = db.ensure_owned_database(database_url, "meta_handover", "airflow")
    kept = tmp_path / "secrets" / "airflow.password"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert kept.read_text().strip() in url
    assert db.ensure_owned_database(database_url, "meta_handover", "airflow") == url
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select session_user").fetchone() == ("airflow",)
        assert conn.execute(
            "select rolsuper from pg_roles where rolname = 'airflow'"
        ).fetchone() == (False,)
        # What Airflow's migrations do to their tables, as the owner.
        conn.execute("alter table public.dag_run add column note text")
        conn.execute("alter type public.dagrunstate add value 'failed'")
        conn.execute("insert into public.dag_run (state) values ('success')")
    db.grant_airflow_reads(url)
    reader = db.with_database(db.role_url(database_url, db.READER), "meta_handover")
    with psycopg.connect(reader) as conn:
        assert conn.execute("select count(*) from public.dag_run").fetchone() == (1,)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("select * from public.variable")
