"""The live candle table seen from the batch side: is the streamer writing, and a terminal view."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import psycopg

LATEST_SQL = """
select distinct on (symbol)
    symbol, open_time, open, high, low, close, volume, trade_count, is_closed, updated_at
from market.candles_1m_live
order by symbol, open_time desc
"""


# The streamer rewrites open candles every 0.1 s; an hour without a write means it is not
# running here (a batch-only install, or stopped on purpose), so live checks do not apply.
STREAMER_RECENT = timedelta(hours=1)


def streamer_writing(conn: psycopg.Connection, within: timedelta = STREAMER_RECENT) -> bool:
    """Whether the streamer wrote market.candles_1m_live within the given time (server clock)."""
    row = conn.execute(
        "select exists (select 1 from market.candles_1m_live where updated_at >= now() - %s)",
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


def follow(
    url: str, interval: float, echo: Callable[[str], None], rounds: int | None = None
) -> None:
    """Print the latest candles every `interval` seconds (forever, or `rounds` times)."""
    done = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while rounds is None or done < rounds:
            echo(format_rows(latest_candles(conn)) + "\n")
            done += 1
            if rounds is None or done < rounds:
                time.sleep(interval)
