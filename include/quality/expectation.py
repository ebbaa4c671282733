"""GX's UnexpectedRowsExpectation, with its query run once instead of twice.

GX's own expectation asks for two metrics, the first rows and their count, and each runs the
check's query: `SELECT COUNT(*) FROM (query)`, then the query itself. Every check's SQL is a
pass over its window (a whole history in a full check), so that doubled every run's database
time. Here one metric reads both in a single execution: the first rows, each carrying the count
of all of them (a window count over the whole result), and the expectation's result is the same
as GX's (observed_value, details.unexpected_rows, severity, description, Data Docs).

Checks of one table that share a pass over it (checks.Check.shared) send one query that
returns the rows of each, named in its _quality_check column: UnexpectedRowsShared's metric
runs it once per validation (GX resolves a metric once for every expectation asking it with the
same query), counts and keeps the first rows per check, and each expectation takes its own.

A check that counts what it looked at (the candle checks) adds two columns to its rows,
_quality_compared and _quality_deferred, and returns one row of them alone (the rest null) when
nothing is wrong: they become details.compared and details.deferred, never an offending row.
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations import UnexpectedRowsExpectation
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.query_metric_provider import QueryMetricProvider

from include.quality.checks import load_sql

METRIC = "unexpected_rows_query.rows_and_count"
SHARED_METRIC = "unexpected_rows_query.rows_and_count_by_check"
# A column name no check's SQL uses; it is removed from the rows before they are reported.
COUNT_COLUMN = "_quality_unexpected_row_count"
COMPARED_COLUMN = "_quality_compared"
DEFERRED_COLUMN = "_quality_deferred"
# sql/rows_by_check.sql's: whose row it is, its place in the query, and in its check's rows.
CHECK_COLUMN = "_quality_check"
ORDER_COLUMN = "_quality_order"
RANK_COLUMN = "_quality_rank"


def batch_query(
    provider: type[QueryMetricProvider],
    execution_engine: SqlAlchemyExecutionEngine,
    metric_domain_kwargs: dict,
    metric_value_kwargs: dict,
) -> str:
    """The check's SQL with GX's batch (the whole table) put in for its {batch}."""
    batch_selectable, _, _ = execution_engine.get_compute_domain(
        metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
    )
    return provider._get_substituted_batch_subquery_from_query_and_batch_selectable(
        query=provider._get_query_from_metric_value_kwargs(metric_value_kwargs),
        batch_selectable=batch_selectable,
        execution_engine=execution_engine,
    )


class UnexpectedRowsAndCount(QueryMetricProvider):
    """The first MAX_RESULT_RECORDS rows of the query and how many rows it returns, one pass."""

    metric_name = METRIC
    value_keys = ("unexpected_rows_query",)
    query_param_name: ClassVar[str] = "unexpected_rows_query"

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls,
        execution_engine: SqlAlchemyExecutionEngine,
        metric_domain_kwargs: dict,
        metric_value_kwargs: dict,
        metrics: dict[str, Any],
        runtime_configuration: dict,
    ) -> dict[str, Any]:
        query = batch_query(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs)
        # An empty window (over ()) keeps the rows in the query's own order.
        counted = (
            f"SELECT unexpected.*, count(*) over () AS {COUNT_COLUMN} "
            f"FROM ({query}) AS unexpected LIMIT {MAX_RESULT_RECORDS}"
        )
        rows = [dict(r._mapping) for r in execution_engine.execute_query(sa.text(counted))]
        count = int(rows[0][COUNT_COLUMN]) if rows else 0
        for row in rows:
            del row[COUNT_COLUMN]
        return {"rows": rows, "count": count, **tally(rows)}


class UnexpectedRowsAndCountByCheck(QueryMetricProvider):
    """Per check named in the shared query's _quality_check column: its first
    MAX_RESULT_RECORDS rows, in the query's order, and how many rows it has; one pass."""

    metric_name = SHARED_METRIC
    value_keys = ("unexpected_rows_query",)
    query_param_name: ClassVar[str] = "unexpected_rows_query"

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls,
        execution_engine: SqlAlchemyExecutionEngine,
        metric_domain_kwargs: dict,
        metric_value_kwargs: dict,
        metrics: dict[str, Any],
        runtime_configuration: dict,
    ) -> dict[str, dict[str, Any]]:
        query = batch_query(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs)
        counted = (
            load_sql("rows_by_check")
            .replace("{limit}", str(MAX_RESULT_RECORDS))
            .replace("{query}", query)
        )
        by_check: dict[str, dict[str, Any]] = {}
        for record in execution_engine.execute_query(sa.text(counted)):
            row = dict(record._mapping)
            found = by_check.setdefault(row[CHECK_COLUMN], {"rows": []})
            found["count"] = int(row[COUNT_COLUMN])
            for column in (CHECK_COLUMN, COUNT_COLUMN, ORDER_COLUMN, RANK_COLUMN):
                del row[column]
            found["rows"].append(row)
        return by_check


def tally(rows: list[dict[str, Any]]) -> dict[str, int]:
    """A counting check's compared and deferred rows, taken out of its rows (in place): with
    nothing wrong its one row is the tally alone, which is then no offending row."""
    if not rows or COMPARED_COLUMN not in rows[0]:
        return {}
    counts = {
        "compared": int(rows[0][COMPARED_COLUMN] or 0),
        "deferred": int(rows[0][DEFERRED_COLUMN] or 0),
    }
    for row in rows:
        del row[COMPARED_COLUMN], row[DEFERRED_COLUMN]
    if all(value is None for value in rows[0].values()):
        rows.clear()
    return counts


class UnexpectedRowsOnce(UnexpectedRowsExpectation):
    """UnexpectedRowsExpectation whose query runs once per validation."""

    metric_dependencies: ClassVar[tuple[str, ...]] = (METRIC,)

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        return self._judge(metrics[METRIC], metrics, runtime_configuration, execution_engine)

    def _judge(
        self,
        found: dict[str, Any],
        metrics: dict,
        runtime_configuration: dict | None,
        execution_engine: Any,
    ) -> dict[str, Any]:
        """GX's judgement of the rows found and their count (with the tally, if any)."""
        renamed = {
            **metrics,
            "unexpected_rows_query.table": found["rows"],
            # The tally alone is one row of the query, and no offending one.
            "unexpected_rows_query.row_count": len(found["rows"]) and found["count"],
        }
        outcome = super()._validate(renamed, runtime_configuration, execution_engine)
        details = outcome.get("result", {}).get("details")
        if details is not None and "compared" in found:
            details["compared"] = found["compared"]
            details["deferred"] = found["deferred"]
        return outcome


class UnexpectedRowsShared(UnexpectedRowsOnce):
    """One check's part of a query shared by several checks of a table: its rows (those named
    `check` in the _quality_check column, with its `columns`), judged as UnexpectedRowsOnce's."""

    check: str
    columns: list[str]
    metric_dependencies: ClassVar[tuple[str, ...]] = (SHARED_METRIC,)

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        mine = metrics[SHARED_METRIC].get(self.check, {"rows": [], "count": 0})
        kept = [*self.columns, COMPARED_COLUMN, DEFERRED_COLUMN]
        rows = [{c: row[c] for c in kept if c in row} for row in mine["rows"]]
        found = {"rows": rows, "count": mine["count"], **tally(rows)}
        return self._judge(found, metrics, runtime_configuration, execution_engine)
