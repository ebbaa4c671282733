"""The rule for where SQL lives (docs/architecture.md): a statement longer than
MAX_INLINE_LINES source lines is a .sql file under include/sql/, include/quality/sql/, api/sql/
or streamer/sql/, loaded by name; shorter ones may stay inline beside their call."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_ROOT

MAX_INLINE_LINES = 6
# The Python the rule covers (the generated gRPC code is outside it).
SCANNED = ("include", "api", "streamer")
SKIPPED = ("api/proto",)
SQL_DIRS = {top: PROJECT_ROOT / top / "sql" for top in SCANNED}

# A line that starts a statement, and a word a statement has beside it: prose rarely has both.
STATEMENT = re.compile(
    r"^\s*(select|insert\s+into|update|delete\s+from|with|create|alter|drop|copy|truncate|"
    r"merge|union\s+all|and\s+not\s+exists)\b",
    re.I | re.M,
)
CLAUSE = re.compile(r"\b(from|into|set|table|exists|values|where)\b", re.I)


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the module, class and function docstring nodes."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
        ):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def text_of(node: ast.AST) -> str | None:
    """A string literal's text (an f-string's fields as {}), None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def long_inline_sql(source: str) -> list[tuple[int, int]]:
    """(line, source lines) of every SQL string literal longer than MAX_INLINE_LINES."""
    tree = ast.parse(source)
    # Docstrings are prose; an f-string's pieces are judged as the whole f-string.
    skip = docstrings(tree) | {
        id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values
    }
    out = []
    for node in ast.walk(tree):
        text = text_of(node)
        if text is None or id(node) in skip:
            continue
        lines = node.end_lineno - node.lineno + 1
        if lines > MAX_INLINE_LINES and STATEMENT.search(text) and CLAUSE.search(text):
            out.append((node.lineno, lines))
    return out


def scanned_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((PROJECT_ROOT / top).rglob("*.py")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if not relative.startswith(SKIPPED):
                files.append(path)
    return files


def test_the_scan_finds_a_long_statement_and_spares_short_ones_and_prose() -> None:
    """Seven lines of SQL are flagged (concatenated or triple-quoted, f-string or not); six
    lines, a docstring that mentions SQL and help text are not."""
    seven = "\n".join(f'    "select {i} from t where x "' for i in range(7))
    source = f'''
"""Module: select rows from market.klines_1m where it is long
and
spans
many
lines
of
prose."""
A = (
{seven}
)
B = f"""
with s as (
    select {{x}} from t
)
select *
from s
"""
C = (
{chr(10).join(seven.splitlines()[:6])}
)
D = "Drop the months older than this (default: unset)"
'''
    assert [line for line, _ in long_inline_sql(source)] == [10, 18]


@pytest.mark.parametrize(
    "path", scanned_files(), ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix()
)
def test_no_long_sql_inline(path: Path) -> None:
    """Statements longer than MAX_INLINE_LINES lines live in .sql files."""
    found = long_inline_sql(path.read_text())
    relative = path.relative_to(PROJECT_ROOT)
    assert not found, "; ".join(
        f"{relative}:{line}: a {n}-line SQL statement inline; move it to a .sql file"
        for line, n in found
    )


def test_every_statement_loaded_by_name_exists() -> None:
    """load_sql("name") names a file of its package's sql/ folder."""
    for path in scanned_files():
        # A package with a sql/ folder of its own (include/quality/) loads from it.
        own = path.parent / "sql"
        folder = own if own.is_dir() else SQL_DIRS[path.relative_to(PROJECT_ROOT).parts[0]]
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "load_sql"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                name = node.args[0].value
                assert (folder / f"{name}.sql").is_file(), f"{path}: {name}.sql not in {folder}"
