"""The live candle table seen from the batch side: is the streamer writing, and a terminal view."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, timedelta

import psycopg

from include.platform.markets import SPOT, Market
from include.sql import load_sql

LATEST_SQL = """
select distinct on (symbol)
    symbol, open_time, open, high, low, close, volume, trade_count, is_closed, updated_at
from market.candles_1m_live
order by symbol, open_time desc
"""


# The streamer rewrites open candles every 0.1 s; an hour without a write means it is not
# running here (a batch-only install, or stopped on purpose), so live checks do not apply.
STREAMER_RECENT = timedelta(hours=1)


def streamer_writing(
    conn: psycopg.Connection, within: timedelta = STREAMER_RECENT, market: Market = SPOT
) -> bool:
    """Whether the streamer wrote market.candles_1m_live (the market's) within the given time
    (server clock)."""
    row = conn.execute(
        market.sql(
            "select exists (select 1 from market.candles_1m_live where updated_at >= now() - %s)"
        ),
        (within,),
    ).fetchone()
    return bool(row[0])


def latest_candles(conn: psycopg.Connection) -> list[tuple]:
    """The newest row of market.candles_1m_live for every symbol."""
    return conn.execute(LATEST_SQL).fetchall()


def format_rows(rows: list[tuple]) -> str:
    """A fixed-width table of latest_candles() rows."""
    header = (
        f"{'symbol':<12} {'open_time (UTC)':<17} {'open':>18} {'high':>18} {'low':>18} "
        f"{'close':>18} {'volume':>20} {'trades':>7} closed"
    )
    lines = [header]
    for symbol, open_time, o, h, lo, c, v, n, closed, _ in rows:
        lines.append(
            f"{symbol:<12} {open_time:%Y-%m-%d %H:%M} {o:>18} {h:>18} {lo:>18} {c:>18} "
            f"{v:>20} {n:>7} {'yes' if closed else 'no'}"
        )
    if not rows:
        lines.append("(no candles yet)")
    return "\n".join(lines)


# Above this many symbols (ALL: ~2,000) the view is one summary line, not a line per symbol.
SUMMARY_ABOVE = 20
# A minute still open this long after it began is late to close (the streamer closes each one
# within seconds of its end).
OPEN_LATE = timedelta(minutes=2)


def summary(conn: psycopg.Connection) -> str:
    """One line for a market of many symbols: how many are live, how many minutes are late to
    close, the newest closed minute and how long ago the streamer last wrote."""
    seen, live, late, newest, lag = conn.execute(
        load_sql("select_live_summary"), {"late": OPEN_LATE}
    ).fetchone()
    if not seen:
        return "(no candles in the last hour)"
    newest_text = "none yet" if newest is None else f"{newest.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return (
        f"{live} of {seen} symbols live (a candle in the last 10 min), "
        f"{late} open minutes older than 2 min, newest closed minute {newest_text}, "
        f"last write {lag.total_seconds():.1f} s ago"
    )


def view(conn: psycopg.Connection, summarize: bool | None = None) -> str:
    """The table of latest candles, or the summary line: above SUMMARY_ABOVE symbols when
    ``summarize`` is None."""
    if summarize is None:
        summarize = _many(conn)
    return summary(conn) if summarize else format_rows(latest_candles(conn))


def _many(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "select count(distinct symbol) > %s from market.candles_1m_live "
        "where updated_at >= now() - interval '1 hour'",
        (SUMMARY_ABOVE,),
    ).fetchone()
    return bool(row[0])


def follow(
    url: str,
    interval: float,
    echo: Callable[[str], None],
    rounds: int | None = None,
    summarize: bool | None = None,
) -> None:
    """Print the latest candles (or the summary, see view) every `interval` seconds (forever,
    or `rounds` times)."""
    done = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while rounds is None or done < rounds:
            echo(view(conn, summarize) + "\n")
            done += 1
            if rounds is None or done < rounds:
                time.sleep(interval)
