"""
### build_timeframes

Rebuilds `analytics.candles_{1m,5m,15m,1h,4h,1d,1w}` with dbt (`dbt_project/`), and each futures
market's of `MARKETS` (`analytics_usdm`, `analytics_coinm`: the same models over its own raw
schema), one market after the other.

- **When:** whenever `market.klines_1m` gets new official klines (the Asset the backfill and
  import DAGs update), and every 5 minutes for the live series the streamer writes into
  `market.candles_1m_live`.
- **What:** one `dbt build` (models and data tests; unit tests run in CI), incremental: it
  recomputes only the minutes whose source rows were written since the previous build (by
  `loaded_at` / `updated_at`, with a 15-minute look-back), plus ranges declared with
  `include.timeframes.mark_dirty`, and the higher-timeframe buckets holding them.
- **Then:** `dbt source freshness` (the live table must not lag more than 2 minutes while the
  streamer is expected, i.e. it wrote within the last hour; official klines within 72 h; a stale
  source fails the run at once, without retries, so the next build is not held behind it), and once
  an hour (and on every Asset-triggered or manual run) the dbt docs, published as one static
  page to `.data/dbt_docs/index.html`.
- **And:** `rebuild_indexes` packs the marts' indexes of each month that ended a day ago or
  more, once (`REINDEX TABLE CONCURRENTLY`: reads and writes go on; a query when none is
  due). See `include/platform/index_rebuilds.py`.
- **Same job by hand:** `python -m include.cli build-timeframes [--full-refresh]`.

The dbt graph runs as one task rather than one task per model (Astronomer Cosmos): on a
5-minute schedule, a dbt start-up per model would cost more than the work itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from include.platform.assets import ANALYTICS_CANDLES, CANDLES_1M_LIVE, KLINES_1M
from include.platform.dag_args import task_defaults


@dag(
    dag_id="build_timeframes",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
        assets=KLINES_1M,
    ),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    # Builds are incremental over "whatever changed since the last build": never two at once.
    max_active_runs=1,
    default_args=task_defaults(2, timedelta(seconds=30), timedelta(minutes=5)),
    dagrun_timeout=timedelta(minutes=30),
    tags=["dbt", "analytics", "timeframes"],
    doc_md=__doc__,
)
def build_timeframes() -> None:
    """Build the timeframes, then check source freshness and publish the docs."""

    @task(inlets=[KLINES_1M, CANDLES_1M_LIVE], outlets=[ANALYTICS_CANDLES])
    def dbt_build() -> float:
        """Run the incremental dbt build; return its duration in seconds."""
        from include.jobs import build_timeframes

        return build_timeframes()

    @task
    def source_freshness() -> None:
        """Fail when the live table lags behind (dbt source freshness)."""
        from airflow.sdk.exceptions import AirflowFailException

        from include.jobs import check_source_freshness
        from include.timeframes import SourceStale

        try:
            check_source_freshness()
        except SourceStale as stale:
            # A stale source is the alarm itself: retries would hold the next build back
            # (one run at a time) for minutes while the streamer is down.
            raise AirflowFailException(str(stale)) from stale

    @task.short_circuit
    def docs_due(dag_run=None) -> bool:
        """Docs on demand and on Asset runs; for the 5-minute schedule, once an hour."""
        return dag_run.run_type != "scheduled" or dag_run.run_after.minute < 5

    @task
    def publish_docs() -> str:
        """Publish the dbt docs as one static HTML page."""
        from include.jobs import publish_docs

        return publish_docs()

    @task
    def rebuild_indexes() -> dict[str, object]:
        """Pack the marts' indexes of each month over (REINDEX CONCURRENTLY), once."""
        from include.jobs import rebuild_indexes

        return rebuild_indexes("marts")

    built = dbt_build()
    built >> source_freshness()
    built >> rebuild_indexes()
    built >> docs_due() >> publish_docs()


build_timeframes()
