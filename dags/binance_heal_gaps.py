"""
### binance_heal_gaps

Every 15 minutes: finds missing minutes per symbol (gaps the streamer recorded in
`market.ingest_gaps`, and holes in the 1m series since each symbol's first candle), fetches
them from `GET /api/v3/klines`, and marks them healed. Minutes Binance has no kline for are
recorded as a halt (`reason = 'halt'`), never invented nor asked again. Halted or delisted
symbols (per `exchangeInfo`) are not "missing" after their last candle.

Emits the `market.klines_1m` Asset only when it filled something. `heal` runs in the
`binance_rest` pool that every task calling Binance REST shares (one IP weight budget).
Params: `symbols` (empty = `SYMBOLS`), `max_minutes`, `full` (the whole history, not only
since the last run's check).

Each market of `MARKETS` (the `markets` param) is healed in its own schema. Same job by hand:
`python -m include.cli heal-gaps [--full] [--market usdm]` (both run `include.jobs.run_heal`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from include.platform.assets import KLINES_1M
from include.platform.dag_args import job_params, task_defaults
from include.platform.rest_pool import HEAL_SLOTS, POOL

DEFAULT_ARGS = task_defaults(2, timedelta(minutes=1), timedelta(minutes=10))


@dag(
    dag_id="binance_heal_gaps",
    schedule="*/15 * * * *",
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["binance", "history", "gaps"],
    doc_md=__doc__,
    params={
        **job_params(),
        "max_minutes": Param(200_000, type="integer", minimum=1),
        "full": Param(False, type="boolean", description="Whole history, not since last run."),
    },
)
def binance_heal_gaps() -> None:
    """Heal, then announce the Asset if any minute was filled."""

    @task(pool=POOL, pool_slots=HEAL_SLOTS)
    def heal(**context) -> dict[str, object]:
        from include.jobs import run_heal

        params = context["params"]
        return run_heal(
            params["symbols"],
            max_minutes=params["max_minutes"],
            full=params["full"],
            markets=params["markets"],
        ).summary()

    @task.short_circuit
    def healed_anything(done: dict[str, object]) -> bool:
        return sum(done["filled"].values()) > 0

    @task(outlets=[KLINES_1M])
    def announce(done: dict[str, object]) -> int:
        return sum(done["filled"].values())

    filled = heal()
    healed_anything(filled) >> announce(filled)


binance_heal_gaps()
