"""
### binance_backfill_rest

Loads official Binance 1-minute klines from `GET /api/v3/klines` into `market.klines_1m`, and
for each futures market of `MARKETS` its klines, mark/index/premium klines and funding from
`/fapi/v1` (`/dapi/v1`) into `market_usdm` (`market_coinm`).

* **Schedule**: daily, one run per UTC day (its data interval). `catchup` is off; turn history
  in with `airflow backfill create --dag-id binance_backfill_rest --from-date ... --to-date ...`
  and every day of the range becomes its own run.
* **Params**: `markets` (empty = the `MARKETS` setting: `spot`, `usdm`, `coinm`), `symbols`
  (empty = each market's setting, `SYMBOLS`, `USDM_SYMBOLS` or `COINM_SYMBOLS`; `ALL` = every
  TRADING symbol), and optional `start` / `end` (ISO, UTC) that override the data interval for
  a one-off manual range.
* **Fan-out**: one mapped task per symbol and per chunk of `chunk_days` days rounded up to
  whole klines pages (per batch of symbols when that would exceed 32 tasks, as with
  `SYMBOLS=ALL`).
* **Idempotent**: rows are upserted; a rerun fetches only the minutes of its range that are
  missing (whoever wrote the others) and changes nothing that is already there. The REST
  weight budget is read from the response headers.
* **Then**, once every load succeeded: `live_retention` drops the days of
  `market.candles_1m_live` that ended more than `LIVE_RETENTION_DAYS` (7) ago and whose every
  minute now has its kline (copies: the kline beats them in `analytics.candles_1m`), and makes
  the coming days' partitions; `rebuild_indexes` packs the klines' indexes of each month that
  ended a day ago or more, once (and again after a backfill wrote a tenth of its rows), with
  `REINDEX TABLE CONCURRENTLY`: reads and writes go on (PostgreSQL 17+; before 17 it says what
  it cannot do). See `include/platform/index_rebuilds.py`.
* **Pool**: `plan` and `load` run in the `binance_rest` pool, which every task that calls
  Binance REST shares (one IP weight budget; see `include/platform/rest_pool.py`).
* **Same job by hand**: `python -m include.cli backfill-rest --start ... --end ...` runs the
  same plan and the same jobs (`include.jobs.plan_rest_chunks` / `run_rest_chunk`) in turn.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from include.platform.assets import KLINES_1M
from include.platform.dag_args import job_params, task_defaults, window, window_params
from include.platform.rest_pool import BACKFILL_SLOTS, EXCHANGE_INFO_SLOTS, POOL

DEFAULT_ARGS = task_defaults(3, timedelta(minutes=2), timedelta(minutes=30))


@dag(
    dag_id="binance_backfill_rest",
    # A real daily data interval: Airflow 3 cron strings make zero-length trigger intervals.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["binance", "history", "rest"],
    doc_md=__doc__,
    params={
        **job_params("Symbols; empty = each market's (SYMBOLS, ...)."),
        **window_params(),
        "chunk_days": Param(7, type="integer", minimum=1),
    },
)
def binance_backfill_rest() -> None:
    """Plan (symbol, chunk) jobs for the interval, then load each with the REST client."""

    # SYMBOLS=ALL is resolved from exchangeInfo.
    @task(pool=POOL, pool_slots=EXCHANGE_INFO_SLOTS)
    def plan(**context) -> list[dict[str, object]]:
        from include.jobs import plan_rest_chunks

        params = context["params"]
        return plan_rest_chunks(
            params["symbols"],
            *window(context),
            chunk_days=params["chunk_days"],
            markets=params["markets"],
        )

    @task(outlets=[KLINES_1M], max_active_tis_per_dag=2, pool=POOL, pool_slots=BACKFILL_SLOTS)
    def load(job: dict[str, object]) -> dict[str, object]:
        from include.jobs import run_rest_chunk

        return run_rest_chunk(job).summary()

    # Once the day's klines are in, the live days they made copies of go (only copies, and
    # only past LIVE_RETENTION_DAYS), so a platform that stays up keeps about a week of live
    # minutes instead of every minute since its last start. After loads that all succeeded
    # only: a failed load leaves the run failed (red in the UI, alerted), and the next day's
    # run drops what this one would have.
    @task
    def live_retention() -> dict[str, object]:
        from include.jobs import live_retention

        return live_retention()

    # Then each month over for a day gets its klines' indexes packed once (loaded a day at a
    # time per symbol, they hold half-full pages), as history_loader; at most 10 minutes a run.
    @task
    def rebuild_indexes() -> dict[str, object]:
        from include.jobs import rebuild_indexes

        return rebuild_indexes("klines")

    load.expand(job=plan()) >> live_retention() >> rebuild_indexes()


binance_backfill_rest()
