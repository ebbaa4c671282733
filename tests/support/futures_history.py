"""A futures backfill's rows beside what the fake serves: trade and price klines and funding,
in the tuple shapes market_usdm and market_coinm hold them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import psycopg

from include.history.backfill import backfill_rest
from include.history.heal import heal_gaps
from include.history.results import HealResult
from include.platform.times import MINUTE_MS

TRADE_COLUMNS = (
    "(extract(epoch from open_time) * 1000)::bigint, open, high, low, close, volume, "
    "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume"
)
PRICE_COLUMNS = (
    "(extract(epoch from open_time) * 1000)::bigint, open, high, low, close, sample_count"
)


def served_pages(url: str, params: dict, start_ms: int, end_ms: int, page: int) -> list:
    """Every 1m row ``url`` serves for [start, end), asked ``page`` minutes at a time."""
    rows: list = []
    with httpx.Client() as http:
        for cursor in range(start_ms, end_ms, page * MINUTE_MS):
            answer = http.get(
                url,
                params={
                    **params,
                    "interval": "1m",
                    "startTime": cursor,
                    "endTime": min(cursor + page * MINUTE_MS, end_ms) - 1,
                    "limit": page,
                },
            )
            answer.raise_for_status()
            rows += answer.json()
    return rows


def trade_rows(rows: list) -> list[tuple]:
    """Served trade klines as the klines_1m columns of TRADE_COLUMNS."""
    return [
        (int(k[0]), *(Decimal(v) for v in k[1:6]), Decimal(k[7]), int(k[8]),
         Decimal(k[9]), Decimal(k[10]))
        for k in rows
    ]  # fmt: skip


def price_rows(rows: list) -> list[tuple]:
    """Served mark, index or premium klines as the columns of PRICE_COLUMNS."""
    return [(int(k[0]), *(Decimal(v) for v in k[1:5]), int(k[8])) for k in rows]


def held(conn: psycopg.Connection, table: str, columns: str, symbol: str) -> list[tuple]:
    """``columns`` of ``symbol``'s rows in ``table``, oldest first."""
    return conn.execute(
        f"select {columns} from {table} where symbol = %s order by open_time", (symbol,)
    ).fetchall()


def served_fundings(url: str, symbol: str, start_ms: int, end_ms: int) -> list[dict]:
    """The fundings a fundingRate ``url`` serves for ``symbol`` from start to end."""
    params = {"symbol": symbol, "startTime": start_ms, "endTime": end_ms}
    return httpx.get(url, params=params).json()


def held_fundings(conn: psycopg.Connection, schema: str, symbol: str) -> list[tuple]:
    """``symbol``'s funding time (ms), rate and mark price in ``schema``.funding_rates."""
    return conn.execute(
        "select (extract(epoch from funding_time) * 1000)::bigint, funding_rate, mark_price "
        f"from {schema}.funding_rates where symbol = %s",
        (symbol,),
    ).fetchall()


def funding_rows(fundings: list[dict]) -> list[tuple]:
    """Served fundings as held_fundings' tuples."""
    return [
        (f["fundingTime"], Decimal(f["fundingRate"]), Decimal(f["markPrice"])) for f in fundings
    ]


def assert_rerun_changes_nothing(
    symbol: str, window: tuple[datetime, datetime], rest_url: str, market: str
) -> None:
    """Assert a second backfill of every series of ``symbol`` changes no row."""
    start, end = window
    again = backfill_rest(
        [symbol], start, end, rest_url=rest_url, market_name=market, series=["all"]
    )
    assert again.changed == {symbol: 0}
    assert all(counts[symbol][1] == 0 for counts in again.series.values())


def all_klines(conn: psycopg.Connection, schema: str, symbol: str) -> list[tuple]:
    """Every column of ``symbol``'s rows in ``schema``.klines_1m, oldest first."""
    return conn.execute(
        f"select * from {schema}.klines_1m where symbol = %s order by open_time", (symbol,)
    ).fetchall()


def healed_hole(
    conn: psycopg.Connection,
    schema: str,
    symbol: str,
    window: tuple[datetime, datetime],
    rest_url: str,
    market: str,
) -> tuple[list[tuple], HealResult, list[tuple]]:
    """Backfill ``symbol``'s klines over ``window``, delete its minutes 30 to 42 and heal the
    gaps: the rows before, the heal's result and the rows after."""
    start, end = window
    backfill_rest([symbol], start, end, rest_url=rest_url, market_name=market, series="klines")
    before = all_klines(conn, schema, symbol)
    conn.execute(
        f"delete from {schema}.klines_1m where symbol = %s and open_time >= %s and open_time < %s",
        (symbol, start + timedelta(minutes=30), start + timedelta(minutes=42)),
    )
    done = heal_gaps([symbol], rest_url=rest_url, market=market, full=True)
    return before, done, all_klines(conn, schema, symbol)
