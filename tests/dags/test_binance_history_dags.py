"""dag.test() of the three history DAGs against the fake exchange and a real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from include.platform.times import to_ms
from tests.include.history_support import NOW, official, running_fake, stored, usdm_config
from tests.support.dags import load_dag, run_day

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fake():
    """The fake exchange, serving REST and dumps, spot's and USDⓈ-M's."""
    with running_fake(usdm_config=usdm_config()) as server:
        yield server


@pytest.fixture
def fake_env(fake, database_url: str, airflow_home, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the platform's URLs at the fake, the way the demo runs offline."""
    monkeypatch.setenv("BINANCE_REST_URL", fake.url)
    monkeypatch.setenv("BINANCE_DATA_URL", fake.url)
    monkeypatch.setenv("SYMBOLS", "ETHUSDT PEPEUSDT")
    return database_url


def midnight_before(days: int) -> datetime:
    """Midnight UTC ``days`` days before the fake's clock stands (NOW)."""
    return NOW.replace(hour=0, minute=0, second=0) - timedelta(days=days)


def interval_ms(run) -> tuple[int, int]:
    """A DAG run's data interval in epoch ms."""
    return to_ms(run.data_interval_start), to_ms(run.data_interval_end)


LIVE_DAY = (
    "insert into market.candles_1m_live (symbol, open_time, open, high, low, close, volume, "
    "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, is_closed) "
    "select %s, t, 1, 1, 1, 1, 1, 1, 1, 1, 1, true "
    "from generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute', "
    "interval '1 minute') as t"
)


def test_backfill_rest_dag_lands_the_interval(fake, fake_env: str) -> None:
    """One daily run of binance_backfill_rest loads that day's klines for every symbol, then
    drops the live day they made a copy of (past LIVE_RETENTION_DAYS), and keeps the day after,
    which has no klines yet."""
    day = midnight_before(1)
    live = (day - timedelta(days=1), day)
    with psycopg.connect(fake_env, autocommit=True) as conn:
        for start in live:
            conn.execute(LIVE_DAY, ("ETHUSDT", start, start + timedelta(days=1)))
    run = run_day("binance_backfill_rest", day)
    assert run.data_interval_start == live[0]
    with psycopg.connect(fake_env) as conn:
        assert conn.execute(
            "select tableoid::regclass::text, count(*) from market.candles_1m_live group by 1"
        ).fetchall() == [(f"market.candles_1m_live_p{live[1]:%Y_%m_%d}", 1440)]
    assert run.data_interval_end - run.data_interval_start == timedelta(days=1)
    a, b = interval_ms(run)
    with psycopg.connect(fake_env) as conn:
        for symbol in ("ETHUSDT", "PEPEUSDT"):
            assert len(stored(conn, symbol, a, b)) == 1440
            assert stored(conn, symbol, a, b) == official(fake.market, symbol, a, b)
        outside = conn.execute(
            "select count(*) from market.klines_1m where open_time < %s or open_time >= %s",
            (run.data_interval_start, run.data_interval_end),
        ).fetchone()[0]
    assert outside == 0


def test_backfill_rest_dag_loads_every_market_of_markets(
    fake, fake_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MARKETS=spot usdm, one daily run loads spot's SYMBOLS into market and USDM_SYMBOLS'
    perpetual into market_usdm: its klines as /fapi/v1 serves them, its mark, index and premium
    minutes and the day's three fundings."""
    import httpx

    monkeypatch.setenv("MARKETS", "spot usdm")
    monkeypatch.setenv("USDM_SYMBOLS", "BTCUSDT")
    monkeypatch.setenv("BINANCE_USDM_REST_URL", fake.url)
    day = midnight_before(2)
    run = run_day("binance_backfill_rest", day)
    a, b = interval_ms(run)
    with psycopg.connect(fake_env) as conn:
        assert stored(conn, "ETHUSDT", a, b) == official(fake.market, "ETHUSDT", a, b)
        counts = conn.execute(
            "select (select count(*) from market_usdm.klines_1m k where k.open_time >= %(a)s "
            "and k.open_time < %(b)s), (select count(*) from market_usdm.mark_price_klines_1m), "
            "(select count(*) from market_usdm.index_price_klines_1m), "
            "(select count(*) from market_usdm.premium_index_klines_1m), "
            "(select count(*) from market_usdm.funding_rates)",
            {"a": run.data_interval_start, "b": run.data_interval_end},
        ).fetchone()
        closes = conn.execute(
            "select close from market_usdm.klines_1m where open_time >= %s and open_time < %s "
            "order by open_time",
            (run.data_interval_start, run.data_interval_end),
        ).fetchall()
    assert counts == (1440, 1440, 1440, 1440, 3)
    served = [
        row[4]
        for start in range(a, b, 480 * 60_000)
        for row in httpx.get(
            f"{fake.url}/fapi/v1/klines",
            params={"symbol": "BTCUSDT", "interval": "1m", "startTime": start, "limit": 480},
        ).json()
    ]
    assert len(served) == 1440
    assert [c for (c,) in closes] == [Decimal(c) for c in served]


def test_import_dumps_dag_lands_the_files(fake, fake_env: str) -> None:
    """binance_import_dumps downloads the day's klines dumps and loads them."""
    day = midnight_before(2)
    run = run_day("binance_import_dumps", day)
    day = run.data_interval_start.replace(hour=0)
    with psycopg.connect(fake_env) as conn:
        a, b = to_ms(day), to_ms(day + timedelta(days=1))
        assert stored(conn, "ETHUSDT", a, b) == official(fake.market, "ETHUSDT", a, b)
        assert conn.execute("select count(*) from market.imported_files").fetchone()[0] == 2


def test_heal_gaps_dag_fills_a_hole(fake, fake_env: str) -> None:
    """binance_heal_gaps fills a deleted stretch back from REST."""
    from include.history.backfill import backfill_rest

    start = NOW.replace(second=0) - timedelta(hours=2)
    backfill_rest(["ETHUSDT"], start, NOW.replace(second=0))
    with psycopg.connect(fake_env, autocommit=True) as conn:
        conn.execute(
            "delete from market.klines_1m where open_time >= %s and open_time < %s",
            (start + timedelta(minutes=10), start + timedelta(minutes=20)),
        )
    run = load_dag("binance_heal_gaps").test(run_conf={"symbols": ["ETHUSDT"]})
    assert run.state == "success"
    with psycopg.connect(fake_env) as conn:
        a, b = to_ms(start), to_ms(start + timedelta(minutes=100))
        assert stored(conn, "ETHUSDT", a, b) == official(fake.market, "ETHUSDT", a, b)


def test_history_dags_accept_symbols_all(fake, fake_env: str, monkeypatch) -> None:
    """SYMBOLS=ALL works for the history DAGs as for the streamer: every TRADING symbol."""
    import httpx

    monkeypatch.setenv("SYMBOLS", "ALL")
    info = httpx.get(f"{fake.url}/api/v3/exchangeInfo").json()
    listed = sorted(s["symbol"] for s in info["symbols"] if s["status"] == "TRADING")
    assert len(listed) >= 4
    day = midnight_before(1)
    run = run_day("binance_backfill_rest", day)
    a, b = interval_ms(run)
    with psycopg.connect(fake_env) as conn:
        for symbol in listed:
            assert stored(conn, symbol, a, b) == official(fake.market, symbol, a, b)
    run = load_dag("binance_heal_gaps").test()
    assert run.state == "success"
    day -= timedelta(days=1)
    run = run_day("binance_import_dumps", day)
    with psycopg.connect(fake_env) as conn:
        files = conn.execute("select count(distinct symbol) from market.imported_files").fetchone()
    assert files[0] == len(listed)
