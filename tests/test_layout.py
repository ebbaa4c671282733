"""The house's own rules: a test module never imports another test module (shared helpers
live in tests/support/, fixtures in the conftests), and no module of the product grows past
500 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import PROJECT_ROOT


def test_no_test_module_imports_another() -> None:
    """A helper one test module takes from another (tests.x.test_y) belongs in tests/support/."""
    offenders = []
    for path in sorted((PROJECT_ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                last = node.module.rsplit(".", 1)[-1]
                if node.module.startswith("tests.") and last.startswith("test_"):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}: {node.module}")
    assert offenders == []


def imported_modules(path: Path) -> Iterator[str]:
    """Every module a file names in an import, relative ones with their leading dots; from
    `from a import b` both a and a.b (b may be a module)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            yield base
            joiner = "." if node.module else ""
            yield from (f"{base}{joiner}{alias.name}" for alias in node.names)


def is_conftest_or_test_module(module: str) -> bool:
    """A module of the test tree that is a conftest or a test module (tests.x.conftest,
    tests.x.test_y, .conftest, conftest, ...)."""
    parts = module.split(".")
    ours = (
        module.startswith(".") or parts[0] in ("tests", "conftest") or parts[0].startswith("test_")
    )
    return ours and any(part == "conftest" or part.startswith("test_") for part in parts)


def test_nothing_imports_a_conftest_or_a_test_module() -> None:
    """Fixtures reach tests by pytest's injection and helpers come from tests/support/: no file
    of the test tree imports a conftest (`from tests import conftest` included) or a test
    module (`from tests.x import test_y` included)."""
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}: {module}"
        for path in sorted((PROJECT_ROOT / "tests").rglob("*.py"))
        for module in imported_modules(path)
        if is_conftest_or_test_module(module)
    ]
    assert offenders == []


# A module past this many lines becomes a package (the style guide's "a few hundred lines").
MOST_LINES = 500
# Modules allowed past it, each with the reason it is one piece: none today.
LONG_MODULES: dict[str, str] = {}


def test_no_module_of_the_product_grows_past_500_lines() -> None:
    """Modules in api/, streamer/, include/, fakebinance/ and dags/ stay short enough to read
    whole; a longer one is split by what it holds (or listed above with its reason)."""
    long = {
        str(path.relative_to(PROJECT_ROOT)): lines
        for folder in ("api", "streamer", "include", "fakebinance", "dags")
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MOST_LINES
    }
    assert not {k: v for k, v in long.items() if k not in LONG_MODULES}, long
