"""History at start: the last days loaded and joined to the streamer's first candle, then built.

`make run` and `make demo` call it before Airflow starts, so the first build and the first
data_quality run see a series with no hole between the newest history and the live minutes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from include import timeframes
from include.history import backfill
from include.history.klines_store import ms_to_datetime
from include.platform import db
from include.platform.binance_rest.client import BinanceRest
from include.platform.symbols import resolve_symbols
from include.platform.times import MINUTE_MS

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
    conn: psycopg.Connection, symbols: Sequence[str], wait_seconds: float
) -> dict[str, object]:
    """Each symbol's first closed live minute, waiting up to wait_seconds for the streamer.

    A symbol without one in time (a quiet market, or no streamer) is left to heal-gaps.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        rows = conn.execute(
            "select symbol, min(open_time) from market.candles_1m_live "
            "where is_closed and symbol = any(%s) group by symbol",
            (list(symbols),),
        ).fetchall()
        found = dict(rows)
        if len(found) == len(symbols) or time.monotonic() >= deadline:
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
) -> BootstrapResult:
    """Load [now - days, now) of official klines, after the streamer closed its first minute.

    Waiting for that minute first means the backfill reaches it: the minutes between the
    newest history and the first live candle are fetched in this same run, not 15 minutes
    later by heal-gaps. The backfill fetches only minutes not held, so a restart costs little.
    """
    # History loads as history_loader, dbt builds as dbt_builder (one URL given: both use it).
    url = database_url or db.resolve_role_url(db.LOADER)
    with BinanceRest(rest_url, database_url=url) as client:
        info = client.exchange_info()
        names = resolve_symbols(symbols, exchange_info=info)
        with psycopg.connect(url, autocommit=True) as conn:
            live_from = first_closed_live(conn, names, wait_seconds) if wait_seconds > 0 else {}
        missing = [s for s in names if s not in live_from]
        if missing and wait_seconds > 0:
            logger.info("no closed live candle yet for %s: heal-gaps joins them later", missing)
        now_ms = int(client.exchange_info()["serverTime"])
        end = ms_to_datetime(now_ms - now_ms % MINUTE_MS)
        start = end - timedelta(days=days)
        loaded = backfill.backfill_rest(names, start, end, database_url=url, client=client)
    logger.info(
        "history %s .. %s: %d klines fetched for %d symbols",
        start.isoformat(),
        end.isoformat(),
        sum(loaded.fetched.values()),
        len(names),
    )
    seconds = timeframes.build_timeframes(database_url, unit_tests=False).seconds if build else None
    return BootstrapResult(names, live_from, sum(loaded.fetched.values()), seconds)
