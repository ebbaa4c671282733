"""GX's Checkpoint, its validation definitions (one per table) run side by side.

GX's own Checkpoint runs them one after the other, so a run used one core of the database
while the other sat idle (the full check of a year: 28 s of queries, one at a time). Each
validation here runs on a thread of its own, with its own Validator and its own pooled
connection (GX builds a Validator per run and checks a connection out per query, and its
Validators keep their batch apart from the shared engine's), as GX would run them in turn:
the same results, stored and keyed the same way, in the same order.

GX's YAML handler is not safe to share between threads: every batch a validation gets reads
the project's config variables through one module-wide ruamel parser (to substitute the
database URL), and two validations parsing at once corrupt each other's parse (a run failed
with an IndexError or a ParserError from ruamel, one run in ten). Its load and dump take a lock
here, for every handler, while this module is imported.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.core.yaml_handler import YAMLHandler

# As many as the database has cores to give a run (this platform's machines have two; a
# third query would only wait for one of them). The report's own counts run beside these.
WORKERS = 2
_YAML_LOCK = threading.RLock()


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(method, "_quality_locked", False):
        return method

    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _YAML_LOCK:
            return method(*args, **kwargs)

    locked._quality_locked = True  # type: ignore[attr-defined]
    return locked


YAMLHandler.load = _locked(YAMLHandler.load)  # type: ignore[method-assign]
YAMLHandler.dump = _locked(YAMLHandler.dump)  # type: ignore[method-assign]


class ConcurrentCheckpoint(gx.Checkpoint):
    """A Checkpoint whose validation definitions run WORKERS at a time, in the order given
    (put the longest first: a long one started last would run alone at the end)."""

    def _run_validation_definitions(
        self,
        batch_parameters: dict[str, Any],
        expectation_parameters: Any,
        result_format: Any,
        run_id: RunIdentifier,
    ) -> dict[Any, Any]:
        def run(definition: Any) -> Any:
            return definition.run(
                checkpoint_id=self.id,
                batch_parameters=batch_parameters,
                expectation_parameters=expectation_parameters,
                result_format=result_format,
                run_id=run_id,
            )

        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="gx-validation") as pool:
            futures = [(d, pool.submit(run, d)) for d in self.validation_definitions]
            # In the definitions' order, as GX's own loop fills it; an error raises as there.
            done = [(d, future.result()) for d, future in futures]
        return {
            self._build_result_key(
                validation_definition=definition,
                run_id=run_id,
                batch_identifier=result.batch_id,
            ): result
            for definition, result in done
        }
