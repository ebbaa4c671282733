"""REST klines backfill into market.klines_1m (a futures market's, and its price klines and
funding): paged, resumable, never writes an open minute."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from include.history import funding, klines_store
from include.history.first_days import record_first_days
from include.history.job import rest_job
from include.history.progress import Progress
from include.history.results import BackfillResult
from include.history.series import FUNDING, KLINES, SERIES, Series, parse_series
from include.platform.binance_rest.client import JOB_EXCHANGE_INFO_AGE_S, BinanceRest
from include.platform.binance_rest.weights import KLINES_LIMIT, REQUESTS_IN_FLIGHT
from include.platform.markets import SPOT, Market
from include.platform.symbols import resolve_symbols
from include.platform.times import MINUTE_MS, to_datetime, to_ms

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = REQUESTS_IN_FLIGHT
# Consecutive pages of one symbol written in one transaction when they have all arrived.
WRITE_BATCH_PAGES = 8


def missing_runs_ms(
    conn: psycopg.Connection,
    symbol: str,
    start_ms: int,
    end_ms: int,
    table: sql.Identifier | None = None,
) -> list[tuple[int, int]]:
    """The runs of [start, end) that the table (market.klines_1m unless given) does not hold
    yet, whatever wrote the rest.

    Resuming from what is present (not from the newest row of some source) means a wider range
    after a narrower one, or after heal-gaps filled a few minutes, still fetches every hole.
    """
    rows = conn.execute(
        sql.SQL(klines_store.load_sql("select_missing_runs")).format(
            table=table or KLINES.identifier(SPOT)
        ),
        {"symbol": symbol, "start": to_datetime(start_ms), "end": to_datetime(end_ms)},
    )
    return [(to_ms(a), to_ms(b)) for a, b in rows]


@dataclass(frozen=True)
class Page:
    """One /api/v3/klines request: the minutes [start_ms, end_ms) of a symbol, at most 1000 (a
    futures market's page; another series' endpoint)."""

    symbol: str
    start_ms: int
    end_ms: int
    # The minutes to keep from the answer, as [start, end) runs; empty keeps the whole page.
    keep: tuple[tuple[int, int], ...] = ()
    series: Series = KLINES

    def wants(self, open_ms: int) -> bool:
        """Whether a kline opening at open_ms belongs to this page's missing minutes."""
        if not self.start_ms <= open_ms < self.end_ms:
            return False
        return not self.keep or any(a <= open_ms < b for a, b in self.keep)


def plan_pages(symbol: str, start_ms: int, end_ms: int) -> list[Page]:
    """[start, end) cut into pages of 1000 minutes, which no answer can truncate.

    A page spans at most KLINES_LIMIT minutes and a minute has at most one kline, so every
    page is independent of the one before: they can all be in flight at once.
    """
    return plan_pages_for_runs(symbol, [(start_ms, end_ms)])


def plan_pages_for_runs(
    symbol: str,
    runs: Sequence[tuple[int, int]],
    page_minutes: int = KLINES_LIMIT,
    series: Series = KLINES,
) -> list[Page]:
    """Pages covering the given runs (sorted, disjoint); runs close together share a page.

    A request costs the same weight for one minute as for a thousand, so scattered holes
    are fetched a page at a time, and the minutes already held in between are skipped by
    the upsert, which leaves unchanged rows untouched.
    """
    span = page_minutes * MINUTE_MS
    pages: list[Page] = []
    for run_start, run_end in runs:
        cursor = run_start
        if pages and run_start < pages[-1].start_ms + span:
            # Widen the last page to reach into this run, as far as one page can go.
            last = pages.pop()
            stop = min(last.start_ms + span, run_end)
            pages.append(Page(symbol, last.start_ms, stop, (*last.keep, (run_start, stop)), series))
            cursor = stop
        while cursor < run_end:
            stop = min(cursor + span, run_end)
            pages.append(Page(symbol, cursor, stop, ((cursor, stop),), series))
            cursor = stop
    return pages


def fetch_pages(
    client: BinanceRest,
    conn: psycopg.Connection,
    pages: Sequence[Page],
    closed_before_ms: int,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> dict[str, tuple[int, int]]:
    """Fetch pages concurrently under the client's one budget; per symbol (fetched, changed)
    of the trade klines, and per (symbol, series) of any other series' pages.

    Up to ``concurrency`` requests are in flight. Pages are written in their given order, a
    transaction per run of consecutive pages of one symbol that have arrived, so a stopped run
    leaves each symbol complete up to its newest row and a resume from there misses nothing.
    Only minutes whose close time is before closed_before_ms (the exchange's clock) are
    written: Binance also returns the running minute, which is not official yet.
    """
    totals: dict[str | tuple[str, str], tuple[int, int]] = {_key(p): (0, 0) for p in pages}
    todo = iter(pages)
    # Fetched pages may wait for the writer; bounding them bounds memory.
    ahead = max(concurrency * 4, 1)
    in_flight: deque[tuple[Page, Future[tuple[int, bytes]]]] = deque()

    def fetch(page: Page) -> tuple[int, bytes]:
        rows = client.klines_1m(page.symbol, page.start_ms, page.end_ms - 1, page.series.endpoint)
        closed = [row for row in rows if int(row[6]) < closed_before_ms and page.wants(int(row[0]))]
        return len(closed), page.series.csv(closed)

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
                    and in_flight[0][0].series == page.series
                    and in_flight[0][1].done()
                ):
                    batch.append(in_flight.popleft()[1].result())
                top_up()
                count = sum(n for n, _ in batch)
                if count:
                    with conn.transaction():
                        changed = page.series.upsert(
                            conn, page.symbol, b"".join(csv for _, csv in batch), client.market
                        )
                    fetched, total = totals[_key(page)]
                    totals[_key(page)] = (fetched + count, total + changed)
                if progress is not None:
                    progress.written(page.symbol, len(batch), count)
        finally:
            for _, future in in_flight:
                future.cancel()
    return totals


def _key(page: Page) -> str | tuple[str, str]:
    """A page's line in fetch_pages' totals: the symbol for trade klines (as always), else
    (symbol, series)."""
    return page.symbol if page.series is KLINES else (page.symbol, page.series.name)


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
    """Load [start, end) of one symbol into klines_1m (the client's market's); (fetched,
    changed). See fetch_pages."""
    end_ms = min(end_ms, closed_before_ms - closed_before_ms % MINUTE_MS)
    pages = plan_pages_for_runs(symbol, [(start_ms, end_ms)], client.market.klines_page)
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
    progress: Progress | None = None,
    market_name: str | Market = "spot",
    series: Sequence[str] | str | None = None,
) -> BackfillResult:
    """Load official 1m klines of [start, end) for each symbol from /api/v3/klines (a futures
    market's: /fapi/v1 or /dapi/v1, into its own schema; with ``series``, its mark, index and
    premium klines and its funding history too).

    All symbols' pages share one pool of ``concurrency`` requests in flight and the client's
    weight budget, so the job runs as fast as the budget allows. ``progress`` hears of every
    page written.
    """
    start_ms, end_ms = to_ms(start), to_ms(end)
    if end_ms <= start_ms:
        raise ValueError(f"empty range: {start.isoformat()} .. {end.isoformat()}")
    if start_ms % MINUTE_MS or end_ms % MINUTE_MS:
        raise ValueError("start and end must be whole minutes (UTC)")
    with rest_job(
        database_url=database_url, rest_url=rest_url, client=client, market_name=market_name
    ) as job:
        venue, url, client = job.market, job.database_url, job.client
        wanted = parse_series(series, venue)
        result = BackfillResult(market=venue.name)
        info = client.exchange_info(max_age_s=JOB_EXCHANGE_INFO_AGE_S)
        closed_before_ms = int(info["serverTime"])
        listed = {s["symbol"] for s in info.get("symbols", [])}
        names = resolve_symbols(symbols, exchange_info=info, market=venue)
        unknown = [s for s in names if s not in listed]
        if unknown:
            raise ValueError(f"unknown symbol {unknown[0]}: exchangeInfo does not list it")
        last_ms = min(end_ms, closed_before_ms - closed_before_ms % MINUTE_MS)
        with psycopg.connect(url, autocommit=True) as conn:
            # A crash may lose the newest commits; the resume point comes from the table, so
            # they are fetched again. Not waiting for each WAL flush keeps the writer ahead.
            conn.execute("set synchronous_commit = off")
            klines_store.store_symbols(conn, info, venue)
            record_first_days(conn, client, names)
            pages: list[Page] = []
            for kind in (SERIES[name] for name in wanted if name != FUNDING):
                for symbol in names:
                    if last_ms > start_ms:
                        pages += _pages_to_fetch(
                            conn, kind, venue, symbol, start_ms, last_ms, resume
                        )
            if progress is not None:
                progress.start([page.symbol for page in pages])
            done = fetch_pages(
                client, conn, pages, closed_before_ms, concurrency=concurrency, progress=progress
            )
            if FUNDING in wanted:
                until_ms = min(end_ms, closed_before_ms)
                result.series[FUNDING] = {
                    symbol: funding.backfill(client, conn, symbol, start_ms, until_ms)
                    for symbol in names
                }
        for symbol in names:
            result.fetched[symbol], result.changed[symbol] = done.get(symbol, (0, 0))
            logger.info(
                "%s: %d klines fetched, %d new or changed",
                symbol,
                result.fetched[symbol],
                result.changed[symbol],
            )
        for name in wanted:
            if name not in (KLINES.name, FUNDING):
                result.series[name] = {s: done.get((s, name), (0, 0)) for s in names}
        result.requests = client.stats.requests
        result.weight = client.stats.weight
        result.throttled_429 = client.stats.throttled_429
    return result


def _pages_to_fetch(
    conn: psycopg.Connection,
    kind: Series,
    venue: Market,
    symbol: str,
    start_ms: int,
    last_ms: int,
    resume: bool,
) -> list[Page]:
    """The pages of one series and symbol that [start, last) still needs (all of it without
    ``resume``)."""
    runs = (
        missing_runs_ms(conn, symbol, start_ms, last_ms, kind.identifier(venue))
        if resume
        else [(start_ms, last_ms)]
    )
    missing = sum(b - a for a, b in runs) // MINUTE_MS
    label = symbol if kind is KLINES else f"{symbol} {kind.name}"
    if resume and missing == 0:
        logger.info("%s: every minute of the range held, nothing to fetch", label)
    elif resume and missing < (last_ms - start_ms) // MINUTE_MS:
        logger.info("%s: %d minutes of the range missing, fetching those", label, missing)
    return plan_pages_for_runs(symbol, runs, venue.klines_page, kind)
