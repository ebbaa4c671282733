"""dag.test() of reconcile: a wrong minute in the unified series is found and made official."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from include.history.backfill import backfill_rest
from include.platform.times import to_ms
from include.timeframes import build_timeframes
from tests.include.history_support import NOW, official, running_fake, stored
from tests.support.dags import load_dag

pytestmark = pytest.mark.slow


def test_reconcile_dag_repairs_a_wrong_minute(database_url: str, airflow_home, monkeypatch) -> None:
    """A manual run over an hour lists the wrong minute, repairs it and announces the Asset."""
    start = NOW.replace(minute=0, second=0) - timedelta(hours=2)
    end = start + timedelta(hours=1)
    with running_fake() as fake:
        monkeypatch.setenv("BINANCE_REST_URL", fake.url)
        monkeypatch.setenv("SYMBOLS", "ETHUSDT")
        backfill_rest(["ETHUSDT"], start, end)
        build_timeframes(database_url, unit_tests=False)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "update market.klines_1m set taker_buy_volume = 0, loaded_at = now() "
                "where open_time = %s",
                (start + timedelta(minutes=7),),
            )
        build_timeframes(database_url, unit_tests=False)
        run = load_dag("reconcile").test(
            run_conf={"start": start.isoformat(), "end": end.isoformat()}
        )
        assert run.state == "success"
        a, b = to_ms(start), to_ms(end)
        with psycopg.connect(database_url) as conn:
            assert stored(conn, "ETHUSDT", a, b) == official(fake.market, "ETHUSDT", a, b)
            found = conn.execute(
                "select open_time, field, repaired_at is not null from market.reconcile_mismatches"
            ).fetchall()
    assert found == [(start + timedelta(minutes=7), "taker_buy_volume", True)]
