"""REST klines backfill into market.klines_1m: paged, resumable, never writes an open minute."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from include import db, klines_store
from include.binance_rest import KLINES_LIMIT, BinanceRest
from include.klines_store import MINUTE_MS, datetime_to_ms, ms_to_datetime

logger = logging.getLogger(__name__)

# Requests in flight: enough to hide the round trip, few enough to stay gentle on a shared IP.
DEFAULT_CONCURRENCY = 8
# Consecutive pages of one symbol written in one transaction when they have all arrived.
WRITE_BATCH_PAGES = 8


@dataclass
class BackfillResult:
    """Per symbol: rows fetched and rows written; plus the client's request statistics."""

    fetched: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    weight: int = 0
    throttled_429: int = 0

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())


def resume_point_ms(conn: psycopg.Connection, symbol: str, start_ms: int, end_ms: int) -> int:
    """Where a previous REST run over [start, end) stopped: after its last written minute."""
    row = conn.execute(
        "select max(open_time) from market.klines_1m "
        "where symbol = %s and source = 'rest' and open_time >= %s and open_time < %s",
        (symbol, ms_to_datetime(start_ms), ms_to_datetime(end_ms)),
    ).fetchone()
    if row is None or row[0] is None:
        return start_ms
    return datetime_to_ms(row[0]) + MINUTE_MS


@dataclass(frozen=True)
class Page:
    """One /api/v3/klines request: the minutes [start_ms, end_ms) of a symbol, at most 1000."""

    symbol: str
    start_ms: int
    end_ms: int


def plan_pages(symbol: str, start_ms: int, end_ms: int) -> list[Page]:
    """[start, end) cut into pages of 1000 minutes, which no answer can truncate.

    A page spans at most KLINES_LIMIT minutes and a minute has at most one kline, so every
    page is independent of the one before: they can all be in flight at once.
    """
    return [
        Page(symbol, cursor, min(cursor + KLINES_LIMIT * MINUTE_MS, end_ms))
        for cursor in range(start_ms, end_ms, KLINES_LIMIT * MINUTE_MS)
    ]


def fetch_pages(
    client: BinanceRest,
    conn: psycopg.Connection,
    pages: Sequence[Page],
    closed_before_ms: int,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> dict[str, tuple[int, int]]:
    """Fetch pages concurrently under the client's one budget; per symbol (fetched, changed).

    Up to ``concurrency`` requests are in flight. Pages are written in their given order, a
    transaction per run of consecutive pages of one symbol that have arrived, so a stopped run
    leaves each symbol complete up to its newest row and a resume from there misses nothing.
    Only minutes whose close time is before closed_before_ms (the exchange's clock) are
    written: Binance also returns the running minute, which is not official yet.
    """
    totals: dict[str, tuple[int, int]] = {p.symbol: (0, 0) for p in pages}
    todo = iter(pages)
    # Fetched pages may wait for the writer; bounding them bounds memory.
    ahead = max(concurrency * 4, 1)
    in_flight: deque[tuple[Page, Future[tuple[int, bytes]]]] = deque()

    def fetch(page: Page) -> tuple[int, bytes]:
        rows = client.klines_1m(page.symbol, page.start_ms, page.end_ms - 1)
        closed = [
            row
            for row in rows
            if int(row[6]) < closed_before_ms and page.start_ms <= int(row[0]) < page.end_ms
        ]
        return len(closed), klines_store.rest_klines_csv(closed)

    with ThreadPoolExecutor(max(concurrency, 1), thread_name_prefix="klines") as pool:

        def top_up() -> None:
            while len(in_flight) < ahead:
                page = next(todo, None)
                if page is None:
                    return
                in_flight.append((page, pool.submit(fetch, page)))

        try:
            top_up()
            while in_flight:
                page, future = in_flight.popleft()
                batch = [future.result()]
                while (
                    len(batch) < WRITE_BATCH_PAGES
                    and in_flight
                    and in_flight[0][0].symbol == page.symbol
                    and in_flight[0][1].done()
                ):
                    batch.append(in_flight.popleft()[1].result())
                top_up()
                count = sum(n for n, _ in batch)
                if count:
                    with conn.transaction():
                        changed = klines_store.upsert_csv(
                            conn, page.symbol, b"".join(csv for _, csv in batch), "rest"
                        )
                    fetched, total = totals[page.symbol]
                    totals[page.symbol] = (fetched + count, total + changed)
        finally:
            for _, future in in_flight:
                future.cancel()
    return totals


def fetch_range(
    client: BinanceRest,
    conn: psycopg.Connection,
    symbol: str,
    start_ms: int,
    end_ms: int,
    closed_before_ms: int,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> tuple[int, int]:
    """Load [start, end) of one symbol into klines_1m; (fetched, changed). See fetch_pages."""
    end_ms = min(end_ms, closed_before_ms - closed_before_ms % MINUTE_MS)
    pages = plan_pages(symbol, start_ms, end_ms)
    return fetch_pages(client, conn, pages, closed_before_ms, concurrency=concurrency).get(
        symbol, (0, 0)
    )


def backfill_rest(
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    database_url: str | None = None,
    rest_url: str | None = None,
    client: BinanceRest | None = None,
    resume: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> BackfillResult:
    """Load official 1m klines of [start, end) for each symbol from /api/v3/klines.

    All symbols' pages share one pool of ``concurrency`` requests in flight and the client's
    weight budget, so the job runs as fast as the budget allows.
    """
    start_ms, end_ms = datetime_to_ms(start), datetime_to_ms(end)
    if end_ms <= start_ms:
        raise ValueError(f"empty range: {start.isoformat()} .. {end.isoformat()}")
    if start_ms % MINUTE_MS or end_ms % MINUTE_MS:
        raise ValueError("start and end must be whole minutes (UTC)")
    own_client = client is None
    client = client or BinanceRest(rest_url)
    result = BackfillResult()
    try:
        info = client.exchange_info()
        closed_before_ms = int(info["serverTime"])
        listed = {s["symbol"] for s in info.get("symbols", [])}
        names = list(dict.fromkeys(s.upper() for s in symbols))
        unknown = [s for s in names if s not in listed]
        if unknown:
            raise ValueError(f"unknown symbol {unknown[0]}: exchangeInfo does not list it")
        last_ms = min(end_ms, closed_before_ms - closed_before_ms % MINUTE_MS)
        url = database_url or db.resolve_database_url()
        with psycopg.connect(url, autocommit=True) as conn:
            # A crash may lose the newest commits; the resume point comes from the table, so
            # they are fetched again. Not waiting for each WAL flush keeps the writer ahead.
            conn.execute("set synchronous_commit = off")
            klines_store.store_symbols(conn, info)
            pages: list[Page] = []
            for symbol in names:
                begin = resume_point_ms(conn, symbol, start_ms, end_ms) if resume else start_ms
                if begin > start_ms:
                    logger.info("%s: resuming at %s", symbol, ms_to_datetime(begin).isoformat())
                pages += plan_pages(symbol, begin, last_ms)
            done = fetch_pages(client, conn, pages, closed_before_ms, concurrency=concurrency)
        for symbol in names:
            result.fetched[symbol], result.changed[symbol] = done.get(symbol, (0, 0))
            logger.info(
                "%s: %d klines fetched, %d new or changed",
                symbol,
                result.fetched[symbol],
                result.changed[symbol],
            )
    finally:
        result.requests = client.stats.requests
        result.weight = client.stats.weight
        result.throttled_429 = client.stats.throttled_429
        if own_client:
            client.close()
    return result
