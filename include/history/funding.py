"""A perpetual's funding history from REST (fundingRate) into its market's funding_rates."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg
from psycopg import sql

from include.platform.binance_rest.client import BinanceRest
from include.platform.markets import FUNDING_PAGE, Market
from include.platform.times import to_datetime
from include.sql import load_sql

logger = logging.getLogger(__name__)


def upsert(conn: psycopg.Connection, market: Market, rows: Sequence[tuple]) -> int:
    """Funding rows (symbol, funding time, rate, mark price, interval hours, source) into the
    market's funding_rates inside the caller's transaction (REST's and the dumps' alike: a
    column one of them lacks keeps what the other wrote); how many were new or changed."""
    statement = sql.SQL(load_sql("upsert_funding_rates")).format(
        table=sql.Identifier(market.raw_schema, "funding_rates")
    )
    with conn.cursor() as cur:
        cur.executemany(statement, rows, returning=False)
        return max(cur.rowcount, 0)


def backfill(
    client: BinanceRest, conn: psycopg.Connection, symbol: str, start_ms: int, end_ms: int
) -> tuple[int, int]:
    """Load the fundings of [start, end) of one contract; (fetched, new or changed).

    Pages of up to 1,000 fundings (a year of 8-hour fundings each), oldest first, each written
    in its own transaction; a contract Binance does not fund (a quarterly) answers nothing.
    """
    fetched = changed = 0
    cursor = start_ms
    while cursor < end_ms:
        page = client.funding_rates(symbol, cursor, end_ms - 1)
        rows = [row for row in page if cursor <= int(row["fundingTime"]) < end_ms]
        if not rows:
            break
        with conn.transaction():
            changed += upsert(
                conn,
                client.market,
                [
                    (
                        symbol,
                        to_datetime(int(row["fundingTime"])),
                        row["fundingRate"],
                        row.get("markPrice") or None,
                        None,
                        "rest",
                    )
                    for row in rows
                ],
            )
        fetched += len(rows)
        if len(page) < FUNDING_PAGE:
            break
        cursor = int(rows[-1]["fundingTime"]) + 1
    logger.info("%s: %d fundings fetched, %d new or changed", symbol, fetched, changed)
    return fetched, changed
