"""What the platform holds, per symbol: first and last minute, holes, halts and sources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row

from include.sql import load_sql


@dataclass(frozen=True)
class Coverage:
    """One symbol's row of `python -m include.cli coverage` (minutes of analytics.candles_1m)."""

    symbol: str
    first_minute: datetime
    last_minute: datetime
    minutes: int
    # Minutes between the first and the last that are neither held nor inside a recorded halt.
    holes: int
    halts: int
    halted_minutes: int
    # Recorded gaps heal-gaps has not filled yet.
    unhealed_gaps: int
    official_minutes: int
    live_minutes: int
    # market.klines_1m rows per source (rest, dump files...).
    official_sources: dict[str, int]

    def as_json(self) -> dict[str, object]:
        """The row as JSON-ready values, times in ISO 8601 UTC."""
        row = dict(self.__dict__)
        row["first_minute"] = self.first_minute.isoformat()
        row["last_minute"] = self.last_minute.isoformat()
        return row


def coverage(database_url: str, symbols: list[str] | None = None) -> list[Coverage]:
    """Coverage of the given symbols (every symbol held when None), in symbol order."""
    with psycopg.connect(database_url) as conn, conn.cursor(row_factory=class_row(Coverage)) as cur:
        cur.execute(load_sql("select_coverage"), {"symbols": symbols})
        return cur.fetchall()


def format_table(rows: list[Coverage]) -> str:
    """A fixed-width table of coverage rows for the terminal."""
    header = (
        f"{'symbol':<14} {'first minute':<17} {'last minute':<17} {'minutes':>9} {'holes':>7} "
        f"{'halts':>5} {'halted':>7} {'unhealed':>8}  sources"
    )
    lines = [header]
    for r in rows:
        sources = (
            dict(r.official_sources, live=r.live_minutes)
            if r.live_minutes
            else dict(r.official_sources)
        )
        lines.append(
            f"{r.symbol:<14} {r.first_minute:%Y-%m-%d %H:%M} {r.last_minute:%Y-%m-%d %H:%M} "
            f"{r.minutes:>9} {r.holes:>7} {r.halts:>5} {r.halted_minutes:>7} "
            f"{r.unhealed_gaps:>8}  "
            + " ".join(f"{name}={count}" for name, count in sources.items())
        )
    return "\n".join(lines)
