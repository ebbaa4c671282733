"""The binance_rest pool's size and slots: REST tasks together never exceed the IP budget."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from include.history.backfill import DEFAULT_CONCURRENCY, backfill_rest
from include.platform import rest_pool
from include.platform.binance_rest.budget import WeightBudget
from include.platform.binance_rest.client import BinanceRest
from include.platform.binance_rest.weights import REQUESTS_IN_FLIGHT, WEIGHTS
from include.platform.times import parse_utc
from tests.include.history_support import running_fake
from tests.support.paths import PROJECT_ROOT


def test_pool_holds_the_reserve_each_client_leaves() -> None:
    """60 slots at Binance's 6000 weight a minute: the 120 weight every client leaves unspent
    for others' requests in flight, in klines requests of weight 2."""
    assert rest_pool.pool_size() == 60
    assert rest_pool.pool_size() * rest_pool.SLOT_WEIGHT == WeightBudget(limit=6000).reserve
    assert rest_pool.pool_size(12_000) == 120


def test_a_task_takes_the_slots_of_its_in_flight_weight() -> None:
    """exchangeInfo (20) goes alone first; backfill and heal then keep 8 klines pages (16) in
    flight, reconcile one: 10 slots each, so six REST tasks run at once."""
    assert DEFAULT_CONCURRENCY == REQUESTS_IN_FLIGHT == 8
    assert rest_pool.in_flight_weight(0) == WEIGHTS["/api/v3/exchangeInfo"] == 20
    assert rest_pool.in_flight_weight(8) == 20
    assert rest_pool.in_flight_weight(16) == 32
    assert rest_pool.task_slots(16) == 16
    assert rest_pool.task_slots(11) == 11
    assert rest_pool.TASK_SLOTS == {
        "backfill": 10,
        "heal": 10,
        "reconcile": 10,
        "exchange_info": 10,
    }
    assert rest_pool.tasks_at_once(rest_pool.BACKFILL_SLOTS) == 6


@pytest.mark.parametrize("limit", [1000, 6000, 12_000, 20_000])
def test_every_mix_the_pool_admits_stays_within_the_limit(limit: int) -> None:
    """Whatever tasks the pool runs together, each client's worst case (it fills its share of
    the window, limit - reserve, while every other task's requests are still in flight) stays
    within Binance's limit."""
    size = rest_pool.pool_size(limit)
    reserve = WeightBudget(limit=limit).reserve
    kinds = list(rest_pool.TASK_SLOTS)
    # Candidate in-flight loads per task, up to what its slots allow.
    weights = {k: rest_pool.TASK_SLOTS[k] * rest_pool.SLOT_WEIGHT for k in kinds}
    most = {k: size // rest_pool.TASK_SLOTS[k] for k in kinds}
    mixes = 0
    for counts in itertools.product(*(range(most[k] + 1) for k in kinds)):
        slots = sum(c * rest_pool.TASK_SLOTS[k] for c, k in zip(counts, kinds, strict=True))
        if slots > size:
            continue
        mixes += 1
        in_flight = sum(c * weights[k] for c, k in zip(counts, kinds, strict=True))
        assert in_flight <= reserve
        assert (limit - reserve) + in_flight <= limit
    assert mixes > 1


def test_pools_file_refuses_a_pool_no_task_fits_in() -> None:
    """A limit so low that one task's slots exceed the pool is an error, not a stuck queue."""
    assert rest_pool.pools_file() == {
        "binance_rest": {
            "slots": 60,
            "description": rest_pool.DESCRIPTION,
            "include_deferred": False,
        }
    }
    with pytest.raises(ValueError, match="fewer than one REST task"):
        rest_pool.pools_file(600)


def test_cli_writes_the_pools_file_airflow_imports(tmp_path: Path) -> None:
    """`python -m include.cli airflow-pools PATH` writes what `airflow pools import` reads."""
    target = tmp_path / "pools.json"
    done = subprocess.run(
        [sys.executable, "-m", "include.cli", "airflow-pools", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pool binance_rest: 60 slots"
    assert json.loads(target.read_text()) == rest_pool.pools_file()


def test_a_real_backfill_keeps_no_more_in_flight_than_its_slots(conn: psycopg.Connection) -> None:
    """Against the fake exchange, a many-page backfill never has more weight sent and
    unanswered than the slots its task takes stand for."""
    with running_fake() as fake, BinanceRest(fake.url) as client:
        result = backfill_rest(
            ["BTCUSDT", "ETHUSDT", "PEPEUSDT"],
            parse_utc("2025-03-01T00:00"),
            parse_utc("2025-03-06T00:00"),
            client=client,
        )
        peak = client.budget.peak_in_flight
    assert result.requests > 3 * REQUESTS_IN_FLIGHT
    assert 0 < peak <= rest_pool.BACKFILL_SLOTS * rest_pool.SLOT_WEIGHT
