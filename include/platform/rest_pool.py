"""The Airflow pool that keeps every REST-calling task inside Binance's one IP weight budget.

Each task's BinanceRest paces itself on X-MBX-USED-WEIGHT-1M, the weight Binance has counted for
the whole IP, so tasks running together already share the per-minute budget; what no header
shows yet is the weight other tasks have in flight. Every client leaves RESERVE_SHARE of the
limit unspent for exactly that, so tasks together stay within the limit as long as their
in-flight weight, summed, fits in that reserve. The pool holds the reserve in slots of one
klines request's weight, and each task takes the slots its own in-flight weight needs; Airflow
then never runs more REST tasks at once than the reserve covers, however many backfill, import,
heal and reconcile tasks are due. Plain Python, so the DAGs and `airflow pools set` agree.

The clients also reserve every request's weight in the budget shared through PostgreSQL
(include/platform/binance_rest/shared.py SharedWeightBudget), which covers the streamer's
repairs and whatever runs outside Airflow too; the pool stays, so Airflow does not start tasks
that would only wait.
"""

from __future__ import annotations

from include.platform.binance_rest.weights import REQUESTS_IN_FLIGHT, RESERVE_SHARE, WEIGHTS

POOL = "binance_rest"
DESCRIPTION = "Binance REST: the IP's request-weight reserve, one slot per klines request"
# Binance's documented REQUEST_WEIGHT per minute per IP (exchangeInfo.rateLimits has the live one).
DOCUMENTED_LIMIT = 6000
SLOT_WEIGHT = WEIGHTS["/api/v3/klines"]


def pool_size(limit: int = DOCUMENTED_LIMIT) -> int:
    """Slots of the pool: the weight every client leaves for others in flight, in klines."""
    # The same reserve WeightBudget.reserve keeps.
    return int(limit * RESERVE_SHARE) // SLOT_WEIGHT


def in_flight_weight(klines_in_flight: int) -> int:
    """The most weight a task has in flight at once.

    Every task opens with exchangeInfo (limits, serverTime, statuses), alone; then up to
    ``klines_in_flight`` klines pages at a time.
    """
    return max(WEIGHTS["/api/v3/exchangeInfo"], klines_in_flight * WEIGHTS["/api/v3/klines"])


def task_slots(klines_in_flight: int = 0) -> int:
    """Pool slots of a task that keeps up to ``klines_in_flight`` klines requests in flight."""
    return -(-in_flight_weight(klines_in_flight) // SLOT_WEIGHT)


# What each kind of REST task has in flight, from the code that does the requests.
# backfill and heal fetch through backfill.fetch_pages, REQUESTS_IN_FLIGHT pages at a time.
BACKFILL_SLOTS = task_slots(REQUESTS_IN_FLIGHT)
HEAL_SLOTS = task_slots(REQUESTS_IN_FLIGHT)
# reconcile reads the official klines one page at a time.
RECONCILE_SLOTS = task_slots(1)
# Planning with SYMBOLS=ALL, and a dump import's symbol check, read exchangeInfo only.
EXCHANGE_INFO_SLOTS = task_slots(0)


TASK_SLOTS = {
    "backfill": BACKFILL_SLOTS,
    "heal": HEAL_SLOTS,
    "reconcile": RECONCILE_SLOTS,
    "exchange_info": EXCHANGE_INFO_SLOTS,
}


def tasks_at_once(slots: int, limit: int = DOCUMENTED_LIMIT) -> int:
    """How many tasks of this many slots the pool runs together."""
    return pool_size(limit) // slots


def pools_file(limit: int = DOCUMENTED_LIMIT) -> dict[str, dict[str, object]]:
    """The pools as `airflow pools import` reads them; refuses a pool no REST task fits in."""
    slots = pool_size(limit)
    if slots < max(TASK_SLOTS.values()):
        raise ValueError(
            f"a REQUEST_WEIGHT limit of {limit} leaves {slots} slots, fewer than one REST task "
            f"takes ({max(TASK_SLOTS.values())})"
        )
    return {POOL: {"slots": slots, "description": DESCRIPTION, "include_deferred": False}}
