"""History at start: the last days loaded and joined to the streamer's first candle, then built.

`make run` and `make demo` call it before Airflow starts, so the first build and the first
data_quality run see a series with no hole between the newest history and the live minutes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from include import timeframes
from include.history import backfill
from include.history.job import rest_job
from include.history.progress import Progress
from include.platform.binance_rest.client import BinanceRest
from include.platform.markets import SPOT, Market
from include.platform.symbols import resolve_symbols
from include.platform.times import MINUTE_MS, to_datetime

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 2
DEFAULT_WAIT_SECONDS = 150.0


@dataclass
class BootstrapResult:
    """What the start-up load did."""

    symbols: list[str]
    live_from: dict[str, object]
    fetched: int
    build_seconds: float | None


def first_closed_live(
    conn: psycopg.Connection, symbols: Sequence[str], wait_seconds: float, market: Market = SPOT
) -> dict[str, object]:
    """Each symbol's first closed live minute, waiting up to wait_seconds for the streamer.

    A symbol without one in time (a quiet market, or no streamer) is left to heal-gaps.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        rows = conn.execute(
            market.sql(
                "select symbol, min(open_time) from market.candles_1m_live "
                "where is_closed and symbol = any(%s) group by symbol"
            ),
            (list(symbols),),
        ).fetchall()
        found = dict(rows)
        if len(found) == len(symbols) or time.monotonic() >= deadline:
            return found
        if wait_seconds <= 0:
            return found
        time.sleep(1.0)


def bootstrap(
    symbols: Sequence[str] | None = None,
    *,
    days: int = DEFAULT_DAYS,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    build: bool = True,
    database_url: str | None = None,
    rest_url: str | None = None,
    echo: Callable[[str], None] = logger.info,
    market: Market = SPOT,
) -> BootstrapResult:
    """Load [now - days, now) of official klines, after the streamer closed its first minute.

    Waiting for that minute first means the backfill reaches it: the minutes between the
    newest history and the first live candle are fetched in this same run, not 15 minutes
    later by heal-gaps; symbols whose first live minute came during the load are joined after
    it (_join_late). The backfill fetches only minutes not held, so a restart costs little.
    ``echo`` gets the load's progress every PROGRESS_EVERY seconds and its outcome. A futures
    ``market`` loads its trade klines into its own schema and builds its own timeframes.
    """
    # History loads as history_loader, dbt builds as dbt_builder (one URL given: both use it).
    with rest_job(database_url=database_url, rest_url=rest_url, market_name=market) as job:
        url, client = job.database_url, job.client
        info = client.exchange_info()
        names = resolve_symbols(symbols, exchange_info=info, market=market)
        with psycopg.connect(url, autocommit=True) as conn:
            live_from = (
                first_closed_live(conn, names, wait_seconds, market) if wait_seconds > 0 else {}
            )
        missing = [s for s in names if s not in live_from]
        if missing and wait_seconds > 0:
            logger.info(
                "no closed live candle yet for %d symbols: joined after the load", len(missing)
            )
        end = _server_minute(client)
        start = end - timedelta(days=days)
        progress = Progress(echo)
        loaded = backfill.backfill_rest(
            names,
            start,
            end,
            database_url=url,
            client=client,
            progress=progress,
            market_name=market,
        )
        fetched = sum(loaded.fetched.values())
        if wait_seconds > 0:
            joined, tail = _join_late(client, url, names, end, market)
            live_from, fetched = joined, fetched + tail
    where = "" if market is SPOT else f" ({market.name})"
    echo(
        f"history{where} {start.isoformat()} .. {end.isoformat()}: {fetched} klines fetched for "
        f"{len(names)} symbols in {progress.elapsed():.0f} s"
    )
    if build:
        echo(f"building the timeframes{where}...")
    seconds = (
        timeframes.build_timeframes(database_url, unit_tests=False, market=market.name).seconds
        if build
        else None
    )
    return BootstrapResult(names, live_from, fetched, seconds)


def _server_minute(client: BinanceRest) -> datetime:
    """The exchange clock's current minute (its start)."""
    now_ms = int(client.exchange_info()["serverTime"])
    return to_datetime(now_ms - now_ms % MINUTE_MS)


def _join_late(
    client: BinanceRest, url: str, names: Sequence[str], end: datetime, market: Market = SPOT
) -> tuple[dict[str, object], int]:
    """Each symbol's first closed live minute after the load, and the klines fetched to reach
    the ones after ``end``.

    At ALL the load takes minutes and many symbols close their first live minute only after
    the wait (the streamer subscribes to 2,000 streams; a quiet symbol trades about once a
    minute): the minutes between ``end`` and their first live candle are fetched here, in this
    run, rather than left as a hole for heal-gaps.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        live_from = first_closed_live(conn, names, 0.0, market)
    late = [s for s in names if s in live_from and live_from[s] > end]
    fetched = 0
    if late:
        reach = max(live_from[s] for s in late)
        loaded = backfill.backfill_rest(
            late, end, reach, database_url=url, client=client, market_name=market
        )
        fetched = sum(loaded.fetched.values())
    unjoined = [s for s in names if s not in live_from]
    if unjoined:
        logger.info(
            "no closed live candle yet for %d symbols (%s...): heal-gaps joins them later",
            len(unjoined),
            ", ".join(unjoined[:5]),
        )
    return live_from, fetched
