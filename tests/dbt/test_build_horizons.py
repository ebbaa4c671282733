"""An incremental build's horizon (include/sql/functions/build_horizons.sql): the oldest open
transaction of a role that writes the sources, none of a reader's, and unknown when the
function cannot see every such transaction."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from include.platform import db
from tests.support.db import function_rights

HORIZON = "select market.write_horizon()"


def test_the_horizon_is_the_oldest_writer_transaction_still_open(
    conn: psycopg.Connection, database_url: str
) -> None:
    """A reader's transaction (the API's role, open first) does not hold the horizon back; the
    loader's and the streamer's do, the older first; once they end the horizon is the clock's."""
    with (
        psycopg.connect(db.role_url(database_url, db.READER)) as reader,
        psycopg.connect(db.role_url(database_url, db.LOADER)) as loader,
        psycopg.connect(db.role_url(database_url, db.STREAMER)) as streamer,
    ):
        reader.execute("select 1")
        [loader_start] = loader.execute("select now()").fetchone()
        [streamer_start] = streamer.execute("select now()").fetchone()
        assert conn.execute(HORIZON).fetchone() == (loader_start - timedelta(seconds=2),)
        loader.commit()
        assert conn.execute(HORIZON).fetchone() == (streamer_start - timedelta(seconds=2),)
        streamer.commit()
        [horizon, now] = conn.execute(f"{HORIZON}, clock_timestamp()").fetchone()
        assert now - timedelta(seconds=3) < horizon < now - timedelta(seconds=1)
        assert reader.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def test_a_horizon_its_owner_cannot_see_is_unknown(
    conn: psycopg.Connection, database_url: str
) -> None:
    """Migrated by a role that may not read other roles' activity, the function cannot tell
    when the loader's transaction began: it says null (the build then takes dbt's look-back),
    not a horizon that would skip the loader's rows."""
    conn.execute("create role horizon_blind nologin")
    conn.execute("grant usage on schema market to horizon_blind")
    conn.execute("alter function market.write_horizon() owner to horizon_blind")
    try:
        with psycopg.connect(db.role_url(database_url, db.LOADER)) as loader:
            loader.execute("select 1")
            assert conn.execute(HORIZON).fetchone() == (None,)
    finally:
        conn.execute("alter function market.write_horizon() owner to current_user")
        conn.execute("drop owned by horizon_blind")
        conn.execute("drop role horizon_blind")


def test_only_dbt_builder_keeps_a_horizon(conn: psycopg.Connection) -> None:
    """The functions read every backend's activity as their owner: only the builds' role may
    call them (a reader could otherwise move a mart's horizon past rows its build never read)."""
    for signature in (
        "market.write_horizon()",
        "market.begin_build_horizon(text)",
        "market.commit_build_horizon(text)",
    ):
        definer, may = function_rights(conn, signature)
        assert definer is True, signature
        assert may == {db.STREAMER: False, db.LOADER: False, db.BUILDER: True, db.READER: False}


def test_the_next_build_starts_at_the_horizon_else_the_look_back(conn: psycopg.Connection) -> None:
    """market.incremental_since, the one rule dbt's incremental builds and the build's
    announcement of corrected minutes both read: -infinity before any build, the previous
    build less the look-back where no horizon was kept, the horizon where one was."""
    conn.execute("create table market.horizon_probe (built_at timestamptz not null)")
    since = "select market.incremental_since('market.horizon_probe', '15 minutes')"
    assert conn.execute(f"select ({since}) = '-infinity'").fetchone() == (True,)
    [built] = conn.execute(
        "insert into market.horizon_probe values (now() - interval '1 hour') returning built_at"
    ).fetchone()
    assert conn.execute(since).fetchone() == (built - timedelta(minutes=15),)
    # A build that began but kept no horizon (its writers unseen): still the look-back.
    conn.execute("insert into market.build_horizons (model) values ('market.horizon_probe')")
    assert conn.execute(since).fetchone() == (built - timedelta(minutes=15),)
    [horizon] = conn.execute(
        "update market.build_horizons set horizon = now() - interval '3 minutes' "
        "where model = 'market.horizon_probe' returning horizon"
    ).fetchone()
    assert conn.execute(since).fetchone() == (horizon,)
    definer, may = function_rights(conn, "market.incremental_since(regclass, interval)")
    assert definer is False
    assert may == {db.STREAMER: False, db.LOADER: False, db.BUILDER: True, db.READER: False}
