"""
### reconcile

Proves the unified series right: every minute of `analytics.candles_1m` in the interval, from
each symbol's first minute held (the weeks before its history are the backfill's to load, not
differences: they are counted as `before_history`), is compared with Binance's official klines
(`GET /api/v3/klines`), field by field. Differences are
listed in `market.reconcile_mismatches` by symbol, minute and field, repaired from the
official kline in `market.klines_1m`, and each symbol's window is recorded in
`market.reconciliations` (the `reconciled_share` note of `data_quality` reads it).

* **Schedule**: weekly, over the week that just ended (Monday 00:00 UTC to Monday), and on
  demand with params `start` / `end` (ISO, UTC) and `symbols` (empty = `SYMBOLS`, ALL works).
* **Fan-out**: one mapped task per symbol (per batch of symbols beyond 32).
* **Then**: emits the `market.klines_1m` Asset, so `build_timeframes` rebuilds what changed.
* **Fails** when a difference is left that the official source cannot repair (a live-only
  minute Binance has no kline for): the task log lists it.
* **Pool**: `plan` and `compare_and_repair` run in the `binance_rest` pool that every task
  calling Binance REST shares (one IP weight budget).
* **Same job by hand**: `python -m include.cli reconcile --start ... --end ...`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from include.platform.assets import KLINES_1M
from include.platform.dag_args import job_params, task_defaults, window, window_params
from include.platform.rest_pool import EXCHANGE_INFO_SLOTS, POOL, RECONCILE_SLOTS


@dag(
    dag_id="reconcile",
    schedule=CronDataIntervalTimetable("0 0 * * 1", timezone="UTC"),
    start_date=datetime(2025, 1, 6, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(2, timedelta(minutes=5), timedelta(hours=1)),
    tags=["binance", "quality", "reconcile"],
    doc_md=__doc__,
    params={
        **job_params(),
        **window_params(),
    },
)
def reconcile() -> None:
    """Plan symbol batches for the interval, then reconcile each against Binance."""

    # SYMBOLS=ALL is resolved from exchangeInfo.
    @task(pool=POOL, pool_slots=EXCHANGE_INFO_SLOTS)
    def plan(**context) -> list[dict[str, object]]:
        from include.jobs import plan_reconcile

        params = context["params"]
        return plan_reconcile(
            params["symbols"],
            *window(context),
            markets=params["markets"],
        )

    @task(outlets=[KLINES_1M], max_active_tis_per_dag=2, pool=POOL, pool_slots=RECONCILE_SLOTS)
    def compare_and_repair(job: dict[str, object]) -> dict[str, object]:
        from include.jobs import run_reconcile

        return run_reconcile(job).summary()

    compare_and_repair.expand(job=plan())


reconcile()
