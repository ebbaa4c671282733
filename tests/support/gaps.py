"""Holes the tests make in market.klines_1m, recorded in market.ingest_gaps as a job would."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg


def punch_hole(
    conn: psycopg.Connection, start: datetime, minutes: int, reason: str, detected_by: str
) -> None:
    """Delete BTCUSDT's klines of ``minutes`` minutes from ``start`` and record the gap."""
    end = start + timedelta(minutes=minutes)
    conn.execute(
        "delete from market.klines_1m where symbol = 'BTCUSDT' "
        "and open_time >= %s and open_time < %s",
        (start, end),
    )
    conn.execute(
        "insert into market.ingest_gaps (symbol, gap_start, gap_end, reason, detected_by) "
        "values ('BTCUSDT', %s, %s, %s, %s)",
        (start, end, reason, detected_by),
    )
