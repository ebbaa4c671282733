"""The administrator inside a database another role owns (Airflow's metadata database, owned by
the airflow role) resolves no name through that owner's schemas (issue #42, item 11)."""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest

from include.platform import db

# The role run.sh and db-init hand Airflow's metadata database to.
OWNER = "airflow"
NUMBERS = itertools.count()
PLANT = [
    # What the database's owner may do without any other right: put its schema first for
    # everyone who connects, and shadow a catalog view with one that calls its function, which
    # then runs with the rights of whoever reads the view.
    "alter database {db} set search_path = public, pg_catalog",
    "create table public.witness (who text)",
    "create function public.pwn() returns boolean language plpgsql as "
    "$$ begin insert into public.witness values (current_user); return true; end $$",
    "create view public.pg_roles as select * from pg_catalog.pg_roles where public.pwn()",
]


@pytest.fixture
def owned(database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A database owned by a role of its own (as `db url --database airflow --owner airflow`
    makes Airflow's), and that role's URL."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    name = f"owned{os.getpid()}_{next(NUMBERS)}"
    return name, db.ensure_owned_database(database_url, name, OWNER)


def test_a_planted_catalog_view_never_runs_as_the_administrator(
    database_url: str, owned: tuple[str, str]
) -> None:
    """The owner shadows pg_roles and sets its database's search_path to its own schema first;
    the administrator hands the database over again (every start of run.sh and db-init does):
    the planted function never runs as the administrator."""
    name, owner_url = owned
    with psycopg.connect(owner_url, autocommit=True) as conn:
        for statement in PLANT:
            conn.execute(statement.format(db=name))
    db.ensure_owned_database(database_url, name, OWNER)
    with psycopg.connect(owner_url, autocommit=True) as conn:
        ran_as = [row[0] for row in conn.execute("select who from public.witness")]
    assert ran_as == [], f"the owner's function ran as {ran_as}"


def test_the_administrators_connection_has_the_catalog_alone_on_its_path(
    database_url: str, owned: tuple[str, str]
) -> None:
    """Whatever search_path the owner gives its database, the administrator's connection into
    it searches pg_catalog and pg_temp only."""
    name, owner_url = owned
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(PLANT[0].format(db=name))
    with db.connect_pinned(db.with_database(database_url, name)) as conn:
        path = conn.execute("show search_path").fetchone()[0]
    assert path.replace(" ", "") == "pg_catalog,pg_temp"
