"""REST klines backfill against the fake exchange and a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from include.history import klines_store
from include.history.backfill import backfill_rest
from include.platform.binance_rest.client import BinanceRest
from include.platform.times import parse_utc, to_ms
from tests.include.history_support import NOW, official, running_fake, snapshot, stored
from tests.support.db import record_writers

START = parse_utc("2025-03-08T00:00")
END = parse_utc("2025-03-10T18:40")  # 4000 minutes: four pages per symbol


@pytest.fixture(autouse=True)
def fresh_exchange_info() -> None:
    """No exchangeInfo kept from an earlier test: a kept one's serverTime is carried forward by
    the wall clock, which the frozen fake's does not follow (after a long test, the open minute
    would pass for a closed one)."""
    from include.platform.binance_rest import client as rest_client

    rest_client._EXCHANGE_INFO.clear()


@pytest.fixture(scope="module")
def fake():
    """A fake exchange with a tiny weight budget (40 per s) so the backfill must pace itself."""
    with running_fake(weight_limit=40, weight_window=1) as server:
        yield server


# A year of one symbol: 525,600 minutes, 526 pages of 1000 klines (weight 2 each).
YEAR_START = parse_utc("2024-03-11T00:00")
YEAR_END = YEAR_START + timedelta(days=365)


@pytest.mark.slow
def test_many_pages_under_weight_limit_equal_official(fake, conn: psycopg.Connection) -> None:
    """A year of pages through the production client and the budget every process shares (the
    Binance limit scaled to 40 per second: each second is one of Binance's minutes) never earns
    a 429 from a server enforcing the limit, and every kline equals the official one."""
    symbol = "QUIETUSDT"  # few trades a minute: the fake makes a year of them in seconds
    start_ms, end_ms = to_ms(YEAR_START), to_ms(YEAR_END)
    # Before the backfill, so the fake answers from its cache as fast as it can: unpaced,
    # 526 pages would overrun the 40 per second many times over (the check below).
    want = official(fake.market, symbol, start_ms, end_ms)
    assert len(want) == 525_600
    before_429, before_418 = fake.fake.limiter.count_429, fake.fake.limiter.count_418
    result = backfill_rest([symbol], YEAR_START, YEAR_END, rest_url=fake.url)
    assert result.fetched[symbol] == 525_600
    assert stored(conn, symbol, start_ms, end_ms) == want
    assert result.weight >= 526 * 2, "every page went through the client"
    assert fake.fake.limiter.count_418 == before_418
    # The fake's windows follow the clock, as Binance's do: the pacing never earns a 429.
    assert fake.fake.limiter.count_429 == before_429
    assert result.throttled_429 == 0
    # Every window's weight was reserved, under the limit, in the table all processes share.
    windows, most = conn.execute(
        "select count(*), max(reserved) from market.rest_weight_windows where window_ms = 1000"
    ).fetchone()
    assert windows >= 1052 // 40
    assert most <= 40


def test_a_backfill_writes_as_history_loader(fake, conn: psycopg.Connection) -> None:
    """Given only DATABASE_URL (the administrator's), a backfill logs in as history_loader:
    every write of the klines and of the symbols it records is that role's."""
    klines = record_writers(conn, "market.klines_1m")
    symbols = record_writers(conn, "market.symbols")
    backfill_rest(["ETHUSDT"], START, START + timedelta(minutes=30), rest_url=fake.url)
    assert len(stored(conn, "ETHUSDT", to_ms(START), to_ms(END))) == 30
    assert klines() == {"history_loader"}
    assert symbols() == {"history_loader"}


def test_second_run_changes_nothing(fake, conn: psycopg.Connection) -> None:
    """Running the same backfill twice leaves identical rows, loaded_at included."""
    backfill_rest(["ETHUSDT"], START, START + timedelta(hours=3), rest_url=fake.url)
    first = snapshot(conn)
    again = backfill_rest(
        ["ETHUSDT"], START, START + timedelta(hours=3), rest_url=fake.url, resume=False
    )
    assert again.fetched["ETHUSDT"] == 180
    assert again.changed["ETHUSDT"] == 0
    assert snapshot(conn) == first


def test_resumes_where_it_stopped(fake, conn: psycopg.Connection) -> None:
    """After an interrupted run, the next one fetches only the minutes after the last row."""
    end = START + timedelta(hours=20)
    backfill_rest(["ETHUSDT"], START, START + timedelta(hours=2), rest_url=fake.url)
    result = backfill_rest(["ETHUSDT"], START, end, rest_url=fake.url)
    assert result.fetched["ETHUSDT"] == 18 * 60
    want = official(fake.market, "ETHUSDT", to_ms(START), to_ms(end))
    assert stored(conn, "ETHUSDT", to_ms(START), to_ms(end)) == want


def test_wider_backfill_after_a_narrower_one_fetches_the_earlier_minutes(
    fake, conn: psycopg.Connection
) -> None:
    """A wider range after a narrower one loads the minutes before the narrow start too."""
    narrow_start, end = START + timedelta(hours=12), START + timedelta(hours=16)
    backfill_rest(["ETHUSDT"], narrow_start, end, rest_url=fake.url)
    result = backfill_rest(["ETHUSDT"], START, end, rest_url=fake.url)
    assert result.fetched["ETHUSDT"] == 12 * 60, "only the 12 missing hours are fetched"
    want = official(fake.market, "ETHUSDT", to_ms(START), to_ms(end))
    assert len(want) == 16 * 60
    assert stored(conn, "ETHUSDT", to_ms(START), to_ms(end)) == want


def test_minutes_healed_inside_the_range_do_not_hide_the_rest(
    fake, conn: psycopg.Connection
) -> None:
    """Rows heal-gaps wrote (source rest) in the middle of a range never stop a backfill early."""
    end = START + timedelta(hours=6)
    healed = START + timedelta(hours=5)
    backfill_rest(["BTCUSDT"], healed, healed + timedelta(minutes=3), rest_url=fake.url)
    backfill_rest(["BTCUSDT"], START, end, rest_url=fake.url)
    want = official(fake.market, "BTCUSDT", to_ms(START), to_ms(end))
    assert stored(conn, "BTCUSDT", to_ms(START), to_ms(end)) == want


def test_scattered_holes_cost_one_request_per_page(fake, conn: psycopg.Connection) -> None:
    """Single missing minutes spread over a page are refetched in one request, not one each."""
    end = START + timedelta(hours=10)
    backfill_rest(["PEPEUSDT"], START, end, rest_url=fake.url)
    conn.execute(
        "delete from market.klines_1m where symbol = 'PEPEUSDT' "
        "and extract(minute from open_time)::int % 7 = 3"
    )
    client = BinanceRest(fake.url)
    asked: list[str] = []
    get = client.get
    client.get = lambda path, params=None: asked.append(path) or get(path, params)
    try:
        result = backfill_rest(["PEPEUSDT"], START, end, client=client)
    finally:
        client.close()
    assert result.fetched["PEPEUSDT"] == result.changed["PEPEUSDT"] > 0
    # (A 429 the tiny budget may earn is retried inside the one call.)
    assert asked.count("/api/v3/klines") == 1, "600 minutes with holes fit one 1000-minute page"
    want = official(fake.market, "PEPEUSDT", to_ms(START), to_ms(end))
    assert stored(conn, "PEPEUSDT", to_ms(START), to_ms(end)) == want


def test_open_minute_is_never_written(fake, conn: psycopg.Connection) -> None:
    """A range reaching past now stops at the last closed minute."""
    minute = NOW.replace(second=0)
    backfill_rest(
        ["BTCUSDT"], minute - timedelta(minutes=30), minute + timedelta(hours=1), rest_url=fake.url
    )
    newest = conn.execute("select max(open_time) from market.klines_1m").fetchone()[0]
    assert newest == NOW.replace(second=0) - timedelta(minutes=1)


def test_unknown_symbol_is_refused(fake, conn: psycopg.Connection) -> None:
    """A symbol exchangeInfo does not list fails with a clear message and writes nothing."""
    with pytest.raises(ValueError, match="unknown symbol NOPEUSDT"):
        backfill_rest(["NOPEUSDT"], START, END, rest_url=fake.url)
    assert conn.execute("select count(*) from market.klines_1m").fetchone()[0] == 0


def test_418_stops_with_a_clear_message(conn: psycopg.Connection) -> None:
    """A banned IP stops the job at once with the reason, instead of hammering on."""
    from include.platform.binance_rest.budget import WeightBudget
    from include.platform.binance_rest.errors import IpBannedError

    with running_fake(weight_limit=4, weight_window=30) as banned:
        # A client ignorant of the limit overruns it, and a second request during the
        # Retry-After earns the ban; ours must then stop.
        reckless = BinanceRest(banned.url, budget=WeightBudget(limit=10**6, sleep=lambda _s: None))
        params = {"symbol": "BTCUSDT", "interval": "1m"}
        for _ in range(2):  # these two spend the whole budget of 4
            reckless.get("/api/v3/klines", params)
        with pytest.raises(IpBannedError, match="HTTP 418"):
            reckless.get("/api/v3/klines", params)
        reckless.close()


def test_odd_decimal_strings_are_stored_exactly(conn: psycopg.Connection) -> None:
    """Decimals not in Binance's 8-decimal form keep their exact value; a non-number is refused."""
    t = to_ms(START)
    row = [t, "1.5", "2", "1.000000001", "1.50000000", "0", t + 59_999, "3.25", 4, "0", "0", "0"]
    with conn.transaction():
        assert klines_store.upsert_rest_klines(conn, "BTCUSDT", [row]) == 1
    got = conn.execute(
        "select open::text, high::text, low::text, close::text, quote_volume::text "
        "from market.klines_1m where symbol = 'BTCUSDT'"
    ).fetchone()
    assert got == ("1.50000000", "2.00000000", "1.000000001", "1.50000000", "3.25000000")
    with pytest.raises(ValueError, match="not a decimal number: '1,5'"):
        klines_store.upsert_rest_klines(conn, "BTCUSDT", [[t, "1,5", *row[2:]]])


def test_a_job_of_many_chunks_asks_exchange_info_once(
    fake, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's backfill of eight days in chunks of one day (rounded up to whole klines pages),
    one client each (as the DAG's tasks), asks exchangeInfo (weight 20) once, not once per
    chunk, no partial page but the last, and the symbol's first day of trading (its 3d grid,
    one 1d kline) once, kept for later jobs."""
    from include import jobs
    from include.platform.binance_rest import client as rest_client

    rest_client._EXCHANGE_INFO.clear()
    asked: list[str] = []
    get = BinanceRest.get

    def counting(self: BinanceRest, path: str, params: dict | None = None) -> object:
        # Once per call (a 429's retries happen inside it); klines by interval.
        asked.append(f"{path} {params['interval']}" if params and "interval" in params else path)
        return get(self, path, params)

    monkeypatch.setattr(BinanceRest, "get", counting)
    for job in jobs.plan_rest_chunks(["ETHUSDT"], "2025-03-01", "2025-03-09", chunk_days=1):
        with BinanceRest(fake.url) as client:
            start, end = parse_utc(job["start"]), parse_utc(job["end"])
            backfill_rest(job["symbols"], start, end, client=client)
    assert asked.count("/api/v3/exchangeInfo") == 1
    # 8 days in chunks of 1 day rounded up to whole pages (2,000 minutes): 5 x 2 pages + 2.
    assert asked.count("/api/v3/klines 1m") == 12
    assert asked.count("/api/v3/klines 1d") == 1
    first_day = conn.execute("select first_day from market.symbols where symbol = 'ETHUSDT'")
    assert first_day.fetchone()[0] is not None
