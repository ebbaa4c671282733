"""The API's longer statements, one per file, loaded by name (docs/architecture.md)."""

from pathlib import Path

from include.sql import sql_loader

load_sql = sql_loader(Path(__file__).parent)
