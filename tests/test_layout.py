"""The test tree's own rule: a test module never imports another test module (shared helpers
live in tests/support/, fixtures in the conftests)."""

from __future__ import annotations

import ast

from tests.conftest import PROJECT_ROOT


def test_no_test_module_imports_another() -> None:
    """Every `from tests.x.test_y import ...` is a helper that belongs in tests/support/."""
    offenders = []
    for path in sorted((PROJECT_ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                last = node.module.rsplit(".", 1)[-1]
                if node.module.startswith("tests.") and last.startswith("test_"):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}: {node.module}")
    assert offenders == []
