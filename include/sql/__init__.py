"""The platform's SQL, one statement per file, loaded by name (the rule: docs/architecture.md).

The migrations live in migrations/ and run through include.platform.migrate, which re-applies the
functions of functions/ after them; the statements the jobs run live here as <name>.sql.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

SQL_DIR = Path(__file__).parent
MIGRATIONS_DIR = SQL_DIR / "migrations"
# Functions and triggers, `create or replace`, re-applied by every migrate after the migrations.
FUNCTIONS_DIR = SQL_DIR / "functions"


def sql_loader(folder: Path) -> Callable[[str], str]:
    """A cached ``load_sql(name)`` giving the text of ``folder/<name>.sql`` (each package with
    SQL of its own, the API's and the streamer's, loads it through one of these)."""

    @functools.cache
    def load_sql(name: str) -> str:
        return (folder / f"{name}.sql").read_text()

    return load_sql


load_sql = sql_loader(SQL_DIR)
