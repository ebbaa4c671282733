"""Batch-side library: plain Python the DAGs and the CLI call (never imports Airflow).

Grouped by role: platform/ (database, settings, Binance REST, symbols, alerts), history/ (the
loads into market.klines_1m and their bookkeeping), timeframes/ (dbt), quality/ (Great
Expectations), with jobs.py (every batch job once) and cli.py on top.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

# The modules that moved into the role packages, by their former top-level name. Code not yet
# rewritten (the streamer, the benchmarks) may still import the old name: it gets the very
# same module object, so there is one module and one state, never two copies.
MOVED = {
    **dict.fromkeys(
        (
            "alerts",
            "assets",
            "binance_rest",
            "db",
            "live",
            "migrate",
            "partitions",
            "pgserver",
            "rest_pool",
            "settings",
            "symbols",
            "times",
        ),
        "platform",
    ),
    **dict.fromkeys(
        (
            "backfill",
            "bootstrap",
            "dumps",
            "heal",
            "klines_store",
            "reconcile",
            "trades_to_candles",
        ),
        "history",
    ),
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves include.<old name> to include.<role>.<old name> (consulted last)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        parent, _, name = fullname.rpartition(".")
        if parent != __name__ or name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        name = spec.name.rpartition(".")[2]
        module = importlib.import_module(f"{__name__}.{MOVED[name]}.{name}")
        # importlib overwrites __spec__ with the alias's; exec_module puts the module's back.
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The module ran under its own name already: only its own spec is restored."""
        module.__spec__ = self._specs.pop(module.__spec__.name)

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec] = {}


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
