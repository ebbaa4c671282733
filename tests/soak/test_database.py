"""The soak's PostgreSQL outlives a pytest session starting meanwhile.

Run as root, the embedded server runs as another user; every pytest session makes its
temporary root (/tmp/pytest-of-<user>) private again when it starts. A server whose data
directory lay under it lost access at its next checkpoint (PANIC): the soak's platform went down
for good while other tests ran on the machine, Airflow's parts restarting on connection refused.
"""

from __future__ import annotations

import stat

import psycopg
import pytest

from tests.soak.harness import new_database

# As root (CI) the server runs as its own user, who can lose access; as another user the
# server is the test's own and keeps it: the test holds either way.
pytestmark = [pytest.mark.slow]


def test_the_soak_database_survives_another_pytest_session_starting(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    db = new_database()
    db.start()
    try:
        # What a pytest session starting now does to the temporary root all sessions share.
        root = tmp_path_factory.getbasetemp().parent
        mode = stat.S_IMODE(root.stat().st_mode)
        root.chmod(mode & ~0o077)
        try:
            with psycopg.connect(db.url("postgres"), autocommit=True) as conn:
                conn.execute("create table written as select 1 as n")
                conn.execute("checkpoint")
            assert db.query("select n from written", None, "postgres") == [(1,)]
        finally:
            root.chmod(mode)
    finally:
        db.remove(keep_log=tmp_path_factory.mktemp("pg") / "server.log")
