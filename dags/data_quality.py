"""
### data_quality

Checks the raw candle tables and everything that compares tables with Great Expectations,
after each timeframe build (dbt's contracts and tests own each mart's own columns, keys and
invariants; docs/quality.md lists who owns what).

- **When:** each time `build_timeframes` updates `analytics.candles` (Asset-scheduled).
- **Window:** the run's data interval; Asset-triggered runs have none, so the 24 hours before
  the current minute (the market's, when the streamer writes ahead of the host's clock); params
  `start` / `end` (ISO, UTC) override it for a one-off range.
- **What:** the suites of `include/quality/` (one per table, suites as code): on
  `market.klines_1m` and `market.candles_1m_live`, DESIGN.md columns and types, unique non-null
  keys, OHLC invariants, non-negative volumes, taker volumes within volumes; across tables, no
  missing minute outside unhealed gaps and halts (one landed after the last build waits for
  the next), higher timeframes complete
  exactly where their minutes are and equal to the aggregate of their minutes, closed live
  candles equal to their official klines, and (while the streamer writes; param
  `expect_live`) fresh live candles. All of it runs as SQL inside PostgreSQL.
- **Result:** a failed check fails the task (no retry: data does not fix itself) with a summary
  naming the expectation, table, symbol and offending rows. The task log prints the path of
  the Data Docs: `$DATA_DIR/gx/uncommitted/data_docs/local_site/index.html`.
- **Same job by hand:** `python -m include.cli check [--start T] [--end T]`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from include.platform.assets import ANALYTICS_CANDLES
from include.platform.dag_args import task_defaults, window_params


@dag(
    dag_id="data_quality",
    schedule=[ANALYTICS_CANDLES],
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(2, timedelta(minutes=1)),
    dagrun_timeout=timedelta(minutes=30),
    tags=["quality", "great_expectations", "analytics"],
    doc_md=__doc__,
    params={
        **window_params(),
        "symbols": Param([], type="array", description="Active symbols; empty = SYMBOLS."),
        "expect_live": Param(
            None,
            type=["null", "boolean"],
            description="Require fresh live candles; null = when the streamer wrote lately.",
        ),
    },
)
def data_quality() -> None:
    """Validate the window with the GX suites and publish the Data Docs."""

    @task
    def check(**context) -> dict[str, object]:
        """Run every check over the window; fail the task with the summary on a defect."""
        from include.jobs import data_quality
        from include.quality import QualityCheckFailed

        params = context["params"]
        try:
            return data_quality(
                params["start"],
                params["end"],
                params["symbols"],
                params["expect_live"],
                interval_start=context.get("data_interval_start"),
                interval_end=context.get("data_interval_end"),
                run_after=context["dag_run"].run_after,
            )
        except QualityCheckFailed as failed:
            # Data does not fix itself: fail without the retries.
            raise AirflowFailException(str(failed).splitlines()[0]) from failed

    check()


data_quality()
