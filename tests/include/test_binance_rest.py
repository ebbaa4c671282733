"""Concurrent REST requests under one weight budget: pacing, 429 and 418, against the fake."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import psycopg
import pytest

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, default_symbols, utc
from fakebinance.server import FakeBinance
from include.history.backfill import backfill_rest
from include.platform.binance_rest.async_client import AsyncBinanceRest
from include.platform.binance_rest.budget import WeightBudget
from include.platform.binance_rest.client import BinanceRest
from include.platform.binance_rest.errors import IpBannedError
from include.platform.times import parse_utc, to_ms
from tests.include.history_support import official, running_fake, stored

START = parse_utc("2025-03-08T00:00")
END = START + timedelta(minutes=5000)  # five pages per symbol
SYMBOLS = ["BTCUSDT", "ETHUSDT", "PEPEUSDT"]
LOCAL_IP = "127.0.0.1"


class WatchedTransport(httpx.HTTPTransport):
    """Counts requests and the most in flight at once; can act before the n-th one goes out."""

    def __init__(self, before: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._before = before
        self.sent = self.active = self.peak = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.sent += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
            number = self.sent
        try:
            if self._before is not None:
                self._before(number)
            return super().handle_request(request)
        finally:
            with self._lock:
                self.active -= 1


@pytest.mark.parametrize(
    ("phase", "most_429"), [(0.0, 0), (0.37, 1)], ids=["aligned", "offset-windows"]
)
@pytest.mark.slow
def test_concurrent_backfill_fills_a_small_budget_without_418(
    conn: psycopg.Connection, database_url: str, phase: float, most_429: int
) -> None:
    """Eight requests in flight share 24 weight per 1 s window and never overrun it.

    Windows aligned to the clock, as Binance's are, cost no 429. Windows offset from the clock
    cost at most one 429 while the client learns them, and that one comes on a window's first
    request, which goes alone, so nothing else is in flight to earn a 418.
    """
    with running_fake(weight_limit=24, weight_window=1, weight_phase=phase) as fake:
        transport = WatchedTransport()
        client = BinanceRest(fake.url, transport=transport)
        result = backfill_rest(
            SYMBOLS, START, END, database_url=database_url, client=client, concurrency=8
        )
        limiter = fake.fake.limiter
        assert limiter.count_429 <= most_429
        assert limiter.count_418 == 0
        # The fake also counts a refused request's weight: at most one window can show it.
        over = [w for w in limiter.weight_by_window.values() if w > 24]
        assert len(over) <= most_429
        assert all(w <= 26 for w in over)
    # exchangeInfo, the 15 pages (and a 429's retry), each symbol's first day (one 1d kline).
    assert result.weight == 20 + 2 * (15 + limiter.count_429) + 2 * len(SYMBOLS)
    assert client.budget.waits > 0, "the budget, not latency, bounded the job"
    assert transport.peak > 1, "requests overlapped"
    start_ms, end_ms = to_ms(START), to_ms(END)
    for symbol in SYMBOLS:
        want = official(fake.market, symbol, start_ms, end_ms)
        assert len(want) == 5000
        assert stored(conn, symbol, start_ms, end_ms) == want


def test_429_waits_for_retry_after_then_goes_on() -> None:
    """Weight spent by another client of the IP earns one 429; the client waits it out, no 418."""
    with running_fake(weight_limit=40, weight_window=2) as fake:
        limiter = fake.fake.limiter
        time.sleep(2 - time.time() % 2 + 0.05)  # start at a window's beginning
        client = BinanceRest(fake.url)
        client.exchange_info()
        limiter.check(LOCAL_IP, limiter.limit - limiter.used(LOCAL_IP))  # the other client
        started = time.monotonic()
        rows = client.klines_1m("BTCUSDT", to_ms(START), to_ms(START) + 59_999)
        waited = time.monotonic() - started
        client.close()
        assert (limiter.count_429, limiter.count_418) == (1, 0)
    assert client.stats.throttled_429 == 1
    assert [row[0] for row in rows] == [to_ms(START)]
    assert waited >= 1.0, "it waited for the window to end"


@pytest.mark.slow
def test_418_stops_every_request_and_a_rerun_resumes(
    conn: psycopg.Connection, database_url: str
) -> None:
    """A ban mid-run stops all threads with the reason; the rows kept resume cleanly later."""
    with running_fake(
        weight_limit=6000,
        weight_window=60,
    ) as fake:
        limiter = fake.fake.limiter

        def ban_before(number: int) -> None:
            if number == 6:  # exchangeInfo, then four klines pages
                limiter.check(LOCAL_IP, limiter.limit + 1)  # 429 ...
                limiter.check(LOCAL_IP, 1)  # ... and a request during its Retry-After: 418

        transport = WatchedTransport(ban_before)
        client = BinanceRest(fake.url, transport=transport)
        with pytest.raises(IpBannedError, match="HTTP 418"):
            backfill_rest(
                SYMBOLS, START, END, database_url=database_url, client=client, concurrency=4
            )
        # In flight when the ban came, at most the pool; nothing is sent after it is known.
        assert transport.sent <= 5 + 4
        start_ms, end_ms = to_ms(START), to_ms(END)
        for symbol in SYMBOLS:
            want = official(fake.market, symbol, start_ms, end_ms)
            kept = stored(conn, symbol, start_ms, end_ms)
            assert kept == want[: len(kept)], f"{symbol}: only a prefix, so resuming skips nothing"
        limiter.reset()  # the ban is over
        backfill_rest(SYMBOLS, START, END, database_url=database_url, rest_url=fake.url)
        for symbol in SYMBOLS:
            assert stored(conn, symbol, start_ms, end_ms) == official(
                fake.market, symbol, start_ms, end_ms
            )


def test_spent_budget_waits_only_until_the_window_ends() -> None:
    """With the budget spent at 10.5 s into a 60 s window, the next request waits 49.75 s."""
    clock = [120.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    budget = WeightBudget(limit=10, window_s=60, wall=lambda: clock[0], sleep=sleep)
    clock[0] += 10.5
    for used in range(2, 11, 2):
        window = budget.acquire(2)
        budget.observe(used, 2, window)
    assert sleeps == []
    budget.acquire(2)
    assert sleeps == [pytest.approx(60 - 10.5 + 0.25)]


def test_a_windows_first_request_waits_for_the_last_windows_answers() -> None:
    """Two requests of the last window are still out when the next begins (on a loaded host
    they queue at the server, which may count them in the new window). The new window's first
    request waits for their answers, so its own answer counts them and filling the window never
    passes the server's limit (on the old code it went ahead, was counted after them, and the
    window went 4 over: the second 429 that failed CI)."""
    clock = [100.1]
    budget = WeightBudget(limit=24, window_s=1, wall=lambda: clock[0], sleep=lambda _s: None)
    budget.observe(2, 2, budget.acquire(2))
    stragglers = [budget.acquire(2), budget.acquire(2)]
    clock[0] = 101.1
    server = 0
    while (window := budget._admit(2, 0.0)[0]) is None and stragglers:
        server += 2  # the server counts a straggler in the new window and answers it
        budget.observe(server, 2, stragglers.pop())
    assert not stragglers, "the first went once the last were answered"
    assert window is not None
    server += 2
    budget.observe(server, 2, window)
    # The rest of the window goes at once, as a backfill sends it: none answered yet.
    while budget._admit(2, 0.0)[0] is not None:
        server += 2
    assert server <= 24


def test_a_count_lower_than_one_answered_before_it_went_moves_the_window() -> None:
    """The server's windows begin 0.37 s after the clock's. A request sent after an answer said
    18 is answered 2: the server's window began in between, so the budget's does now (on the
    old code only a fall by more than the most weight ever in flight, 16 here, moved it, and
    windows stayed misplaced through a run: two 429s in CI)."""
    clock = [100.05]
    budget = WeightBudget(limit=24, window_s=1, wall=lambda: clock[0], sleep=lambda _s: None)
    budget.observe(2, 2, budget.acquire(2))
    eight = [budget.acquire(2) for _ in range(8)]
    for used, window in zip(range(4, 20, 2), eight, strict=True):
        budget.observe(used, 2, window)
    late = budget.acquire(2)
    clock[0] = 100.4  # the server's window began at 100.37
    budget.observe(2, 2, late)
    assert budget.phase_s == pytest.approx(0.4 - budget.slack_s - 0.001)
    assert budget.next_reset(clock[0]) == pytest.approx(101.4 - 0.001)


def test_a_windows_first_request_waits_a_quarter_window_at_most() -> None:
    """A request that is never answered (lost, as a cancelled one may be) does not hold the
    windows after it: their first requests go a quarter of a window after they begin."""
    clock = [100.1]
    budget = WeightBudget(limit=24, window_s=60, wall=lambda: clock[0], sleep=lambda _s: None)
    budget.observe(2, 2, budget.acquire(2))
    budget.acquire(2)  # never answered
    clock[0] = 120.3
    assert budget._admit(2, 0.0)[:2] == (None, None)
    clock[0] += 14.9
    assert budget._admit(2, 0.0)[:2] == (None, None)
    clock[0] += 0.2
    assert budget._admit(2, 0.0)[0] is not None


async def test_an_admission_cancelled_on_its_thread_gives_its_weight_back() -> None:
    """The shared budget admits on a worker thread; a caller cancelled meanwhile sends
    nothing, so the weight admitted for it leaves ``pending`` (else each window's first
    request would wait for its answer)."""

    class Slow(WeightBudget):
        admits_off_loop = True

        def _admit(self, *args: object, **kwargs: object) -> tuple[int | None, float | None, float]:
            time.sleep(0.2)
            return super()._admit(*args, **kwargs)

    budget = Slow(limit=100, window_s=60)
    waiting = asyncio.ensure_future(budget.acquire_async(2))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.3)
    assert budget._pending == 0
    # It was the window's first request: the next one goes now, not once the minute ends.
    await asyncio.wait_for(budget.acquire_async(2), 2)


async def test_async_budget_waits_without_blocking_the_event_loop() -> None:
    """While a coroutine waits for a 429's Retry-After, and then for a window's first answer,
    another coroutine keeps running."""
    budget = WeightBudget(limit=100, window_s=60)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.ensure_future(ticker())
    budget.retry_after(0.5)
    started = time.monotonic()
    first = await budget.acquire_async(2)  # waits 0.5 s + slack
    blocked_for = time.monotonic() - started
    ticks_while_blocked = ticks

    asyncio.get_running_loop().call_later(0.3, budget.observe, 2, 2, first)
    started = time.monotonic()
    second = await budget.acquire_async(2)  # goes once the window's first request is answered
    waited_answer = time.monotonic() - started
    ticking.cancel()
    assert second == first
    assert blocked_for >= 0.5
    assert ticks_while_blocked >= 20, "the loop ran while the budget waited"
    assert waited_answer >= 0.25
    assert ticks - ticks_while_blocked >= 10


async def test_klines_go_ahead_of_a_queue_of_bulk_requests() -> None:
    """200 aggTrades requests (weight 4, two and a half windows' worth) are queued first, then
    one klines request: it is answered in the first window, ahead of the queue, as a missed
    minute's klines must be at a restart at ALL. On the old code it waited for a slot behind
    168 of them."""
    clock = MarketClock(start=utc(2025, 3, 10, 12), speed=0)
    config = MarketConfig(3, default_symbols())
    async with FakeBinance(config, clock=clock, weight_limit=400, weight_window=3) as fake:
        budget = WeightBudget(limit=400, window_s=3, reserve_share=0.1)
        answered: list[str] = []
        async with AsyncBinanceRest(fake.url, budget=budget) as client:

            async def one(path: str, params: dict) -> None:
                await client.get(path, {"symbol": "BTCUSDT", "limit": 1, **params})
                answered.append(path)

            bulk = [asyncio.ensure_future(one("/api/v3/aggTrades", {})) for _ in range(200)]
            await asyncio.sleep(0.05)  # every bulk request is queued first
            await one("/api/v3/klines", {"interval": "1m"})
            ahead = answered.index("/api/v3/klines")
            await asyncio.gather(*bulk)
    assert ahead < 90, f"klines answered after {ahead} bulk requests"
    assert fake.stats()["http_429"] == 0


def test_a_new_client_starts_with_the_limits_its_process_learned() -> None:
    """A server whose weight window is not Binance's minute (40 per 2 s here): once one client
    of the process has read its exchangeInfo, the next client paces its very first request on
    that window. Spent weight then costs it the rest of a 2 s window, not a whole default
    minute (on the old code a second backfill in the same process waited 60 s)."""
    with running_fake(weight_limit=40, weight_window=2) as fake:
        limiter = fake.fake.limiter
        with BinanceRest(fake.url) as first:
            first.exchange_info()
        with BinanceRest(fake.url) as second:
            assert (second.budget.limit, second.budget.window_s) == (40, 2.0)
            limiter.check(LOCAL_IP, limiter.limit - limiter.used(LOCAL_IP))  # weight spent
            started = time.monotonic()
            second.exchange_info()
            waited = time.monotonic() - started
    assert waited < 10, f"waited {waited:.1f} s for a 2 s window"
