"""One REST weight budget shared by processes through PostgreSQL (issue 12), against the fake
exchange, which counts weight per IP and answers 429 (then 418) past its limit."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest

from include.history.backfill import backfill_rest
from include.platform import db
from include.platform.binance_rest.budget import WeightBudget
from include.platform.binance_rest.client import BinanceRest
from include.platform.binance_rest.shared import SharedWeightBudget
from include.platform.times import parse_utc, to_ms
from streamer.metrics import Metrics
from streamer.rest import RestClient
from tests.include.history_support import official, running_fake, stored
from tests.support.db import function_rights

START = parse_utc("2025-03-08T00:00")
SYMBOLS = ["BTCUSDT", "ETHUSDT", "PEPEUSDT"]
LIMIT = 60
LOCAL_IP = "127.0.0.1"
# Four seconds, not Binance's sixty (a test must end) nor one or two: a request reserved near a
# window's end takes room in the next one too, for twice the slowest recent request; on a
# loaded 2-core host a thread or the fake's loop can stall longer than that all of a sudden, and
# the shorter the window the likelier such a stall lands on its edge (one 429 in CI at 2 s).
WINDOW_S = 4.0


def klines_calls(client: BinanceRest, calls: int, threads: int) -> None:
    """`calls` klines requests from `threads` threads at once (a backfill task's shape)."""
    start_ms = to_ms(START)

    def one(i: int) -> None:
        begin = start_ms + (i % 50) * 1000 * 60_000
        client.klines_1m(SYMBOLS[i % 3], begin, begin + 999 * 60_000)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(calls)))


async def repairs(client: RestClient, calls: int, at_once: int) -> None:
    """`calls` aggTrades probes (weight 4), `at_once` in flight, as the streamer's repairs."""
    start_ms = to_ms(START)
    gate = asyncio.Semaphore(at_once)

    async def one(i: int) -> None:
        async with gate:
            begin = start_ms + i * 60_000
            await client.get_aggs_between(SYMBOLS[i % 3], begin, begin + 59_999)

    await asyncio.gather(*(one(i) for i in range(calls)))


@pytest.mark.slow
def test_batch_tasks_and_streamer_repairs_share_one_ip_budget(database_url: str) -> None:
    """Two batch clients and the streamer's client, each with its own database connection and
    its own role, fire far more than one window's weight at once: together they never pass the
    IP's limit, so the exchange answers no 429 (nor 418), and the shared windows did the
    holding back."""
    with running_fake(weight_limit=LIMIT, weight_window=WINDOW_S) as fake:
        loader = db.role_url(database_url, db.LOADER)
        batch = [BinanceRest(fake.url, database_url=loader) for _ in range(2)]
        for client in batch:
            # Windows as the fake's from the first request on, exchangeInfo's too (against
            # Binance the default, 6000 per minute, is already what exchangeInfo says).
            client.budget.limit, client.budget.window_s = LIMIT, WINDOW_S
        streamer = RestClient(
            fake.url,
            Metrics(),
            weight_limit=LIMIT,
            database_url=db.role_url(database_url, db.STREAMER),
        )
        streamer.budget.window_s = (
            WINDOW_S  # the fake's window (the streamer reads no exchangeInfo)
        )

        async def repairing() -> None:
            async with streamer:
                await repairs(streamer, 20, 8)

        workers = [threading.Thread(target=klines_calls, args=(c, 40, 16)) for c in batch]
        try:
            for worker in workers:
                worker.start()
            asyncio.run(repairing())
            for worker in workers:
                worker.join()
        finally:
            for client in batch:
                client.close()
        limiter = fake.fake.limiter
        assert (limiter.count_429, limiter.count_418) == (0, 0)
        assert max(limiter.weight_by_window.values()) <= LIMIT
        # exchangeInfo (20) and 40 klines (2) per batch client, 20 aggTrades (4) for the streamer.
        assert limiter.total_weight() == 2 * (20 + 40 * 2) + 20 * 4
        budgets = [c.budget for c in batch] + [streamer.budget]
        assert all(isinstance(b, SharedWeightBudget) for b in budgets)
        assert sum(b.shared_waits for b in budgets) > 0, "the shared windows held requests back"
    with psycopg.connect(database_url) as conn:
        reserved = conn.execute(
            "select coalesce(max(reserved), 0), count(*) from market.rest_weight_windows "
            "where budget = 'binance_rest'"
        ).fetchone()
    assert 0 < reserved[0] <= LIMIT
    assert reserved[1] >= limiter.total_weight() // LIMIT


@pytest.mark.slow
def test_parallel_backfill_workers_fill_their_chunks_without_a_429(
    conn: psycopg.Connection, database_url: str
) -> None:
    """The backfill DAG's mapped tasks, each with its own client and database connection: four
    run at once over one small IP budget (48 per window) and load every minute, 429-free."""
    chunks = [(START + timedelta(minutes=1500 * i), 1500) for i in range(4)]
    with running_fake(weight_limit=48, weight_window=WINDOW_S) as fake:
        loader = db.role_url(database_url, db.LOADER)

        def run(chunk: tuple) -> int:
            begin, minutes = chunk
            end = begin + timedelta(minutes=minutes)
            # The fake's limit and window from the first request on, as the defaults are
            # Binance's (exchangeInfo's first answer would otherwise set them).
            budget = SharedWeightBudget(database_url=loader, limit=48, window_s=WINDOW_S)
            with BinanceRest(fake.url, budget=budget) as client:
                result = backfill_rest(
                    SYMBOLS, begin, end, database_url=loader, client=client, concurrency=8
                )
            budget.close()
            return result.total_changed

        with ThreadPoolExecutor(len(chunks)) as pool:
            changed = sum(pool.map(run, chunks))
        limiter = fake.fake.limiter
        assert (limiter.count_429, limiter.count_418) == (0, 0)
        assert max(limiter.weight_by_window.values()) <= 48
    assert changed == len(SYMBOLS) * 6000
    start_ms = to_ms(START)
    end_ms = start_ms + 6000 * 60_000
    for symbol in SYMBOLS:
        assert stored(conn, symbol, start_ms, end_ms) == official(
            fake.market, symbol, start_ms, end_ms
        )


def test_without_a_reachable_database_the_client_paces_alone() -> None:
    """A database that does not answer costs nothing but the log line: the requests go, paced by
    the process's own budget; no database URL at all gives the in-process budget."""
    with running_fake(weight_limit=LIMIT, weight_window=1) as fake:
        with BinanceRest(fake.url, database_url="postgresql://nobody@127.0.0.1:1/none") as client:
            klines_calls(client, 10, 4)
            assert client.stats.requests == 11
            assert isinstance(client.budget, SharedWeightBudget)
            assert client.budget.shared_waits == 0
        with BinanceRest(fake.url) as client:
            assert type(client.budget) is WeightBudget
        assert fake.fake.limiter.count_429 == 0


def test_a_429_holds_every_process_until_its_retry_after_ends(database_url: str) -> None:
    """Something outside the platform spends the IP's window; the first client's request gets a
    429. Another process's client, whose own budget knows nothing of it, then wants to send:
    the shared windows hold it until the Retry-After is over, so the exchange never sees a
    request inside it (which earns the IP a 418 ban)."""
    with running_fake(weight_limit=40, weight_window=WINDOW_S) as fake:
        limiter = fake.fake.limiter
        loader = db.role_url(database_url, db.LOADER)
        first, second = (
            BinanceRest(
                fake.url,
                budget=SharedWeightBudget(database_url=loader, limit=40, window_s=WINDOW_S),
            )
            for _ in range(2)
        )
        start_ms = to_ms(START)
        try:
            limiter.check(LOCAL_IP, 40)  # the other spender
            worker = threading.Thread(
                target=first.get,
                args=("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m"}),
            )
            worker.start()
            deadline = time.monotonic() + 10
            while limiter.count_429 == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert limiter.count_429 == 1
            rows = second.get(
                "/api/v3/klines",
                {"symbol": "ETHUSDT", "interval": "1m", "startTime": start_ms, "limit": 5},
            )
            worker.join()
        finally:
            first.close()
            second.close()
            first.budget.close()
            second.budget.close()
        assert len(rows) == 5
        assert (limiter.count_429, limiter.count_418) == (1, 0)
        assert second.budget.shared_waits > 0, "the second client waited for the shared window"


def test_a_slow_request_widens_the_edge_for_windows_not_for_requests() -> None:
    """One request that took a second (a stalled host) keeps the edge at twice that for the
    quick requests right after it, and the edge narrows by the window's clock (half a window)."""
    clock = [1000.0]
    budget = SharedWeightBudget(database_url="", window_s=60.0, wall=lambda: clock[0])
    assert budget.edge_s == budget.slack_s + 2 * 3.0  # a twentieth of the window, untimed
    budget.took(0.05)
    assert budget.edge_s == pytest.approx(budget.slack_s + 0.1)
    budget.took(1.0)
    for _ in range(100):
        clock[0] += 0.01
        budget.took(0.05)
    assert budget.edge_s > budget.slack_s + 1.95
    clock[0] += 60.0
    budget.took(0.05)
    assert budget.edge_s == pytest.approx(budget.slack_s + 1.0, rel=0.02)


def test_a_reservation_held_up_past_the_windows_edge_takes_room_in_the_next_window(
    conn: psycopg.Connection, database_url: str
) -> None:
    """Another process holds the shared window's row while this one reserves; by the time the
    row is free the clock is at the window's edge, where the request may reach the exchange in
    the next window: its weight is reserved there too (else that window's other requests and
    this one pass the IP's limit: a 429, and a 418 for the requests in flight)."""
    window_s, index = 10.0, 170_000_000
    clock = [index * window_s + 2.0]  # mid-window: the request needs room in this window only
    budget = SharedWeightBudget(
        database_url=db.role_url(database_url, db.LOADER),
        limit=100,
        window_s=window_s,
        wall=lambda: clock[0],
    )
    window_ms = round(window_s * 1000)
    conn.execute(
        "insert into market.rest_weight_windows (budget, window_ms, window_index) "
        "values ('binance_rest', %s, %s)",
        (window_ms, index),
    )
    conn.commit()
    try:
        with psycopg.connect(database_url) as locker:
            locker.execute(
                "select 1 from market.rest_weight_windows where budget = 'binance_rest' "
                "and window_ms = %s and window_index = %s for update",
                (window_ms, index),
            )
            reserving = threading.Thread(target=budget.acquire, args=(2,))
            reserving.start()
            deadline = time.monotonic() + 30
            while not conn.execute(
                "select count(*) from pg_stat_activity "
                "where wait_event_type = 'Lock' and query like '%%reserve_rest_weight%%'"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the reservation never waited on the row"
                time.sleep(0.01)
            clock[0] = (index + 1) * window_s - 0.1  # the row is held until the edge
        reserving.join(timeout=30)
        assert not reserving.is_alive()
        reserved = dict(
            conn.execute(
                "select window_index, reserved from market.rest_weight_windows "
                "where budget = 'binance_rest' and window_ms = %s",
                (window_ms,),
            ).fetchall()
        )
    finally:
        budget.close()
    assert reserved == {index: 2, index + 1: 2}


async def test_reserving_shared_weight_never_blocks_the_event_loop() -> None:
    """The streamer reserves weight on its event loop: the database round trip (here a
    server that accepts and never answers, so the connect attempt waits out its timeout) runs
    on a worker thread, and the loop keeps ticking meanwhile."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        budget = SharedWeightBudget(
            database_url=f"postgresql://nobody:x@127.0.0.1:{port}/binance", limit=6000
        )
        stalls: list[float] = []

        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                stalls.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        await budget.acquire_async(2)
        waited = time.monotonic() - started
        ticking.cancel()
        budget.close()
    assert waited >= 1.5, "the connect attempt should have taken its timeout"
    assert stalls, "the event loop never ran while the weight was reserved"
    assert max(stalls) < 0.3, f"the event loop stalled for {max(stalls):.2f} s"


def test_only_the_roles_that_call_binance_may_reserve_weight(conn: psycopg.Connection) -> None:
    """market.reserve_rest_weight runs as its caller and is executable by the streamer and the
    history loader (the processes that call Binance REST) and by no other role: PUBLIC's
    default EXECUTE is revoked, so the read API's and dbt's roles cannot spend the budget."""
    signature = (
        "market.reserve_rest_weight(text, integer, bigint, bigint, integer, integer, integer)"
    )
    definer, may = function_rights(conn, signature)
    assert definer is False
    assert may == {db.STREAMER: True, db.LOADER: True, db.BUILDER: False, db.READER: False}
