"""The platform's SQL, one statement per file, loaded by name (the rule: README, Architecture).

The migrations live in migrations/ and run through include.platform.migrate; the statements the jobs
run live here as <name>.sql.
"""

from __future__ import annotations

import functools
from pathlib import Path

SQL_DIR = Path(__file__).parent
MIGRATIONS_DIR = SQL_DIR / "migrations"


@functools.cache
def load_sql(name: str) -> str:
    """The text of include/sql/<name>.sql."""
    return (SQL_DIR / f"{name}.sql").read_text()
