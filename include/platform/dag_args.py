"""What the DAGs share of their declarations: default_args, the params every job takes, and
the window a run covers (a run's data interval unless its params override it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import Param

from include.platform.alerts import on_task_failure


def task_defaults(
    retries: int, first_delay: timedelta, max_delay: timedelta | None = None
) -> dict[str, Any]:
    """A DAG's default_args: the data platform's, a failure alerted (on_task_failure), and
    ``retries`` retries ``first_delay`` apart, doubling up to ``max_delay`` when given."""
    args: dict[str, Any] = {
        "on_failure_callback": on_task_failure,
        "owner": "data-platform",
        "retries": retries,
        "retry_delay": first_delay,
    }
    if max_delay is not None:
        args.update(retry_exponential_backoff=True, max_retry_delay=max_delay)
    return args


def job_params(symbols: str = "Symbols; empty = SYMBOLS.") -> dict[str, Param]:
    """The markets and symbols a job runs (empty: MARKETS, and each market's symbols)."""
    return {
        "markets": Param([], type="array", description="spot, usdm, coinm; empty = MARKETS."),
        "symbols": Param([], type="array", description=symbols),
    }


def window_params(
    start: str = "Override start (UTC).", end: str = "Override end (UTC)."
) -> dict[str, Param]:
    """start and end overriding a run's data interval (null: the interval's)."""
    return {
        "start": Param(None, type=["null", "string"], description=start),
        "end": Param(None, type=["null", "string"], description=end),
    }


def window(context: Mapping[str, Any], *, days: bool = False) -> tuple[str, str]:
    """The run's [start, end): its params' when given, else its data interval's (as dates with
    ``days``). The interval is read only when a bound is not given: a run triggered without a
    logical date (Airflow 3's manual runs) has none in its context."""
    params = context["params"]
    bounds = []
    for name in ("start", "end"):
        given = params[name]
        if not given:
            edge = context[f"data_interval_{name}"]
            given = (edge.date() if days else edge).isoformat()
        bounds.append(given)
    return bounds[0], bounds[1]
