"""Running a klines plan (plan.py): its statement on the marts (on the minutes while dbt has
built none), bounded below by where the last same newest answer began, its rows in order."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from psycopg import AsyncConnection, errors

from api.klines.marts import Marts
from api.klines.plan import Plan, plan_klines
from api.klines.request import KlinesRequest, Row
from api.klines.statements import market_statement, seconds_statement
from include.platform import markets
from include.platform.intervals import INTERVAL_MS, to_datetime
from include.platform.markets import SPOT, Market


async def fetch_klines(conn: AsyncConnection, req: KlinesRequest) -> list[Row]:
    """Binance's answer: with a start, the oldest ``limit`` candles from it; else the newest."""
    plan = plan_klines(req)
    if plan is None:
        return []
    venue = markets.market(req.market)
    rows = await _bounded(plan, lambda params: _run(conn, plan, params, venue), venue)
    if plan.source == "rolled":
        return _candles(plan, rows)
    if plan.newest_first:
        rows.reverse()
    return rows


# Per request shape (symbol, interval, limit, zone): the open time (ms) of the oldest stored
# row the last answer without endTime read. Candles only come newer, so the next such answer
# reads no earlier.
_OLDEST: dict[tuple[str, str, int, int], int] = {}
# The same per shape without the symbol: the newest of those, a first guess for another symbol.
_SHAPE_OLDEST: dict[tuple, int] = {}
_OLDEST_MAX = 100_000


async def _bounded(
    plan: Plan, run: Callable[[dict], Awaitable[list]], venue: Market = SPOT
) -> list:
    """Run the plan's statement (``params["limit"]`` stored rows at most) from where the last
    same request began, when the plan has a ``resume`` key (before any: ``_first_guesses``).

    Without a lower bound the statement opens every monthly partition of every table it reads,
    so its cost grows with the months of history held; from there it opens a month or two.
    Should the window hold fewer rows than the statement may read (rows were deleted), the
    whole history is read, so the answer is the same either way."""
    key = plan.resume
    if key is None:
        return await run(plan.params)
    if venue is not SPOT:
        key = (venue.name, *key)
    want = plan.params["limit"]
    rows = None
    shape = key[:-4] + key[-3:]  # the key without its symbol: market, interval, limit, zone
    tries = [to_datetime(_OLDEST[key])] if key in _OLDEST else _first_guesses(plan, shape)
    for since in tries:
        rows = await run({**plan.params, "lo": since, "mlo": since})
        if _stored_rows(plan, rows) >= want:
            break
        rows = None
    if rows is None:
        rows = await run(plan.params)
    if rows and _stored_rows(plan, rows) >= want:
        if len(_OLDEST) >= _OLDEST_MAX:
            _OLDEST.clear()
            _SHAPE_OLDEST.clear()
        _OLDEST[key] = _oldest(plan, rows)
        _SHAPE_OLDEST[shape] = max(_SHAPE_OLDEST.get(shape, _OLDEST[key]), _OLDEST[key])
    else:
        _OLDEST.pop(key, None)
    return rows


# Before any same request, how far back the newest rows' bound is guessed, in windows of the
# rows asked: a symbol trading until now has them in the first; one whose history stopped
# (loaded up to yesterday, no streamer) in the second, 32 times as far (11 days of 1m, two
# years of 1h); beyond, the whole history is read.
GUESSES = (1, 32)


def _first_guesses(plan: Plan, shape: tuple) -> list[datetime]:
    """Lower bounds to try, nearest first, before a request shape has a known one: where
    another symbol's same answer began (the symbols' histories end together), then windows of
    the rows it may read back from now (the streamer writes every minute, idle ones too), one
    interval more and one for the forming candle. A bound that holds fewer rows is followed by
    the next, then the whole history, so the answer is the same."""
    tries = [to_datetime(_SHAPE_OLDEST[shape])] if shape in _SHAPE_OLDEST else []
    size = INTERVAL_MS.get(plan.reads)
    if size is None:
        return tries
    now_ms = time.time_ns() // 1_000_000
    span = (plan.params["limit"] + 2) * size
    return tries + [to_datetime(now_ms - k * span) for k in GUESSES]


def _stored_rows(plan: Plan, rows: list) -> int:
    """The stored rows an answer was made of: a roll-up's count is each candle's last value."""
    return sum(r[-1] for r in rows) if plan.source == "rolled" else len(rows)


def _oldest(plan: Plan, rows: list) -> int:
    """The open time the oldest stored row of a newest-first answer began at (a roll-up's rows
    come oldest bucket first, and a bucket's open is on the source's grid too)."""
    return rows[0][0] if plan.source == "rolled" else rows[-1][0]


async def _run(conn: AsyncConnection, plan: Plan, params: dict, venue: Market = SPOT) -> list:
    """Execute the plan's statement: the 1s table's as it is; a stored interval's on the marts,
    or on the minutes while there are none (of the market: a futures market's schemas)."""
    if plan.source == "seconds":
        cur = await conn.execute(seconds_statement(plan.newest_first), params)
        return await cur.fetchall()
    marts = await Marts.available(conn, venue)
    try:
        cur = await conn.execute(
            market_statement(venue, plan.reads, plan.newest_first, marts, plan.wrap), params
        )
    except errors.UndefinedTable:
        if not marts:
            raise
        # A mart vanished (dropped by hand): serve from the minutes until it is back.
        Marts.forget(conn, venue)
        cur = await conn.execute(
            market_statement(venue, plan.reads, plan.newest_first, False, plan.wrap), params
        )
    return await cur.fetchall()


def _candles(plan: Plan, summed: list) -> list[Row]:
    """A roll-up's candles, oldest first: its summed rows less the one at the far end when the
    statement read as many stored rows as it may (the limit may have cut it)."""
    total = sum(r[-1] for r in summed)
    candles = {r[0]: r[:-1] for r in summed}
    opens = sorted(candles)
    if total >= plan.params["limit"] and opens:
        opens = opens[1:] if plan.newest_first else opens[:-1]
    opens = opens[-plan.limit :] if plan.newest_first else opens[: plan.limit]
    return [candles[t] for t in opens]
