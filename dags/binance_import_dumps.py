"""
### binance_import_dumps

Imports data.binance.vision CSV dumps (klines, trades, aggTrades) into `market.klines_1m`,
as exact 1-minute candles.

* **Schedule**: daily at 06:00 UTC, importing the daily files of the data interval's day (they
  are published the next day). `catchup` is off; older days come in with
  `airflow backfill create` or with the params below.
* **Markets**: each market of `MARKETS` (or the `markets` param): a futures market's klines
  (`data/futures/um/`, `data/futures/cm/`) go to `market_usdm` / `market_coinm`, with its
  mark, index and premium klines.
* **Params**: `markets` (empty = `MARKETS`), `symbols` (empty = each market's symbols setting),
  `kinds` (`klines`, `trades`, `aggTrades`),
  `start` / `end` dates (override the interval), `folder` (a local folder of dump files:
  imports those instead of downloading).
* **Fan-out**: one mapped task per file (per batch of files when there are more than 32, as
  with `SYMBOLS=ALL`); each file loads in one transaction, and a file already imported with
  the same checksum is skipped, so reruns change nothing. A file Binance does not publish
  because the symbol did not trade in its period (listed later, delisted) is nothing to import
  (one klines request says so); a missing file of a period with klines fails: not published yet.
* **Emits** the `market.klines_1m` Asset.
* **Pool**: both tasks may ask `exchangeInfo`, so they run in the `binance_rest` pool that
  every task calling Binance REST shares (one IP weight budget).
* **Same job by hand**: `python -m include.cli import-dumps --start ... --end ...` (or
  `import-csv FILES` for local dumps) runs `include.jobs.plan_dump_files` / `run_dump_files`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from include.platform.assets import KLINES_1M
from include.platform.dag_args import job_params, task_defaults, window, window_params
from include.platform.rest_pool import EXCHANGE_INFO_SLOTS, POOL

DEFAULT_ARGS = task_defaults(3, timedelta(minutes=5), timedelta(hours=1))


@dag(
    dag_id="binance_import_dumps",
    # A real daily data interval: Airflow 3 cron strings make zero-length trigger intervals.
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    tags=["binance", "history", "dumps"],
    doc_md=__doc__,
    params={
        **job_params(),
        "kinds": Param(["klines"], type="array", description="klines, trades, aggTrades."),
        **window_params("First day (override).", "End day, exclusive."),
        "folder": Param(None, type=["null", "string"], description="Local dump folder."),
    },
)
def binance_import_dumps() -> None:
    """List the files of the interval (or the folder), then import each one."""

    # SYMBOLS=ALL is resolved from exchangeInfo.
    @task(pool=POOL, pool_slots=EXCHANGE_INFO_SLOTS)
    def list_files(**context) -> list[list[str]]:
        from include.jobs import plan_dump_files

        params = context["params"]
        return plan_dump_files(
            params["symbols"],
            params["kinds"],
            *window(context, days=True),
            folder=params["folder"],
            markets=params["markets"],
        )

    # The dumps come from data.binance.vision, outside the weight budget; the symbol check asks
    # exchangeInfo when market.symbols is empty.
    @task(
        outlets=[KLINES_1M],
        max_active_tis_per_dag=2,
        pool=POOL,
        pool_slots=EXCHANGE_INFO_SLOTS,
    )
    def import_files(specs: list[str]) -> list[dict[str, object]]:
        from include.jobs import run_dump_files

        return [done.summary() for done in run_dump_files(specs)]

    import_files.expand(specs=list_files())


binance_import_dumps()
