"""Each symbol's first day of trading at Binance, where its 3d klines' grid starts.

Binance's 3d klines open every three days from the symbol's own first 1d kline (BTCUSDT's from
2017-08-17, SOLUSDT's from 2020-08-11: docs/timeframes.md), so serving 3d needs that day, which
no table holds unless history was loaded from the listing. One request per symbol, once:
``/api/v3/klines?interval=1d&startTime=0&limit=1`` (weight 2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import psycopg

from include.platform.binance_rest.client import BinanceRest
from include.platform.intervals import to_datetime

logger = logging.getLogger(__name__)

CONCURRENCY = 8


def record_first_days(conn: psycopg.Connection, client: BinanceRest, symbols: Sequence[str]) -> int:
    """Read and store the first day of those symbols market.symbols (the client's market's)
    holds without one; return how many were stored. A symbol with no kline yet (listed, not
    trading) is left null."""
    market = client.market
    missing = [
        row[0]
        for row in conn.execute(
            market.sql(
                "select symbol from market.symbols where symbol = any(%s) and first_day is null "
                "order by symbol"
            ),
            (list(symbols),),
        )
    ]

    def first(symbol: str) -> list:
        return client.get(
            market.path("klines"),
            {"symbol": symbol, "interval": "1d", "startTime": 0, "limit": 1},
        )

    # A few in flight (the client is shared by threads, its weight budget paces them): ALL's
    # ~2,000 symbols take an eighth of 2,000 round trips.
    stored = 0
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        for symbol, rows in zip(missing, pool.map(first, missing), strict=True):
            if not rows:
                continue
            day = to_datetime(int(rows[0][0])).date()
            conn.execute(
                market.sql("update market.symbols set first_day = %s where symbol = %s"),
                (day, symbol),
            )
            stored += 1
    if stored:
        logger.info("first day of trading read for %d symbols", stored)
    return stored
