"""No import loop among the project's own modules.

The graph is read statically with ``ast``, so it holds every import a module names: those at
the top, those inside functions, and those under ``if TYPE_CHECKING:``. A loop that only the
type checker follows is still two modules that each need the other, the coupling a loop
stands for (issue #23: the streamer's parts each took the whole Streamer).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import PROJECT_ROOT

# The packages the project ships; dags/ is Airflow's folder of top-level modules.
PACKAGES = ("api", "streamer", "include", "fakebinance")
DAGS = "dags"


def project_modules() -> dict[str, Path]:
    """Every module of the project by its dotted name (a package by its own)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    for path in sorted((PROJECT_ROOT / DAGS).glob("*.py")):
        modules[path.stem] = path
    return modules


def imported_names(path: Path, module: str) -> Iterator[str]:
    """The dotted names a module imports, relative imports resolved; ``from a import b``
    yields ``a.b``, which import_graph cuts back to ``a`` when b is a name defined in a."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                # A package's "." is itself; a module's "." is its package.
                drop = node.level - 1 if is_package else node.level
                base = base[: len(base) - drop] if drop else base
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            for alias in node.names:
                yield f"{stem}.{alias.name}"


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (the most specific one each name reaches)."""
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imported in imported_names(path, name):
            parts = imported.split(".")
            # ``import a.b.c`` reaches a.b.c; a name inside a module reaches the module. A
            # package's __init__ counts only for the names it defines: one that re-exports its
            # submodules' names is no loop with a submodule importing a sibling by its path.
            while parts and ".".join(parts) not in modules:
                parts.pop()
            target = ".".join(parts)
            if target and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """Each strongly connected set of modules (Tarjan) and one loop of it, as a path back to
    its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [(loop_in(graph, component), component) for component in components]


def loop_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside it."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & component):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no loop in {component}")  # a strongly connected set always has one


def test_the_graph_sees_the_streamer_and_type_checking_imports() -> None:
    """The reader itself: it finds a top-level import and one under TYPE_CHECKING."""
    graph = import_graph()
    assert "streamer.aggregator" in graph["streamer.writer"]
    assert "streamer.writer" in graph["streamer.health"]  # under TYPE_CHECKING only
    assert "include.platform.settings" in graph["streamer.config"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = [
        f"{' -> '.join(loop)} (one loop of {', '.join(sorted(component))})"
        for loop, component in cycles(graph)
    ]
    assert found == [], "import loops:\n" + "\n".join(found)
