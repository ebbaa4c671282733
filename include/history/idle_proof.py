"""Idle minutes of a trades dump, proven: only Binance's klines tell an idle minute from a halt.

A trades or aggTrades file has no row for a minute without trades, whether the market was open
and idle (Binance gives it a kline: the previous close, zero volumes) or halted (no kline at
all). The file alone cannot tell them apart, so every minute it would fill as idle is checked
against /api/v3/klines (weight 2 per 1,000 minutes): a minute with a kline keeps its idle
candle, one absent from two answers is a halt, recorded as such and never invented. When REST
cannot answer, the unproven minutes are left out and recorded as a gap for heal-gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
import psycopg

from include.platform.binance_rest.client import BinanceRest
from include.platform.times import MINUTE_MS, to_datetime
from include.sql import load_sql

logger = logging.getLogger(__name__)


@dataclass
class IdleProof:
    """What REST said about a file's idle minutes: spans halted, spans it could not prove."""

    halted: list[tuple[int, int]] = field(default_factory=list)
    unproven: list[tuple[int, int]] = field(default_factory=list)
    error: str | None = None

    def dropped(self) -> list[tuple[int, int]]:
        return [*self.halted, *self.unproven]


def runs(minutes: list[int]) -> list[tuple[int, int]]:
    """Sorted minute open times as [start, end) spans of consecutive minutes."""
    spans: list[tuple[int, int]] = []
    for minute in minutes:
        if spans and spans[-1][1] == minute:
            spans[-1] = (spans[-1][0], minute + MINUTE_MS)
        else:
            spans.append((minute, minute + MINUTE_MS))
    return spans


def kline_minutes(client: BinanceRest, symbol: str, minutes: list[int]) -> set[int]:
    """Which of the sorted minutes have a 1m kline at Binance (one request per page of minutes
    of span that holds any of them)."""
    found: set[int] = set()
    i = 0
    while i < len(minutes):
        start = minutes[i]
        # The client's market: spot's /api/v3/klines 1,000 a page, futures' 499.
        size = client.market.klines_page
        end = min(start + size * MINUTE_MS, minutes[-1] + MINUTE_MS)
        page = client.get(
            client.market.path("klines"),
            {
                "symbol": symbol,
                "interval": "1m",
                "startTime": start,
                "endTime": end - 1,
                "limit": size,
            },
        )
        found.update(int(kline[0]) for kline in page)
        while i < len(minutes) and minutes[i] < end:
            i += 1
    return found


def prove_idle_minutes(
    candles: pl.DataFrame, symbol: str, client_factory: Callable[[], BinanceRest]
) -> tuple[pl.DataFrame, IdleProof]:
    """The candles without the idle minutes Binance has no kline for (halted) or that REST
    could not prove; client_factory() opens the REST client (only when there is an idle one)."""
    idle = sorted(candles.filter(pl.col("trade_count") == 0)["open_time_ms"].to_list())
    proof = IdleProof()
    if not idle:
        return candles, proof
    try:
        with client_factory() as client:
            with_kline = kline_minutes(client, symbol, idle)
            # One answer without a minute is not yet a halt (a partial answer happens).
            absent = [m for m in idle if m not in with_kline]
            if absent:
                with_kline |= kline_minutes(client, symbol, absent)
    except Exception as err:  # offline: nothing proven, nothing invented
        proof.error = str(err).splitlines()[0] if str(err) else type(err).__name__
        proof.unproven = runs(idle)
        logger.warning(
            "%s: %d idle minutes left to heal-gaps, REST could not prove them: %s",
            symbol,
            len(idle),
            proof.error,
        )
    else:
        proof.halted = runs([m for m in idle if m not in with_kline])
    dropped = [m for start, end in proof.dropped() for m in range(start, end, MINUTE_MS)]
    if dropped:
        candles = candles.filter(~pl.col("open_time_ms").is_in(dropped))
    return candles, proof


def record(conn: psycopg.Connection, symbol: str, proof: IdleProof, display: str) -> None:
    """Write the halts (facts, settled) and the unproven spans (for heal-gaps) to ingest_gaps."""
    halted = f"{display}: REST has no kline: trading halted"
    spans = [(s, e, "halt", halted) for s, e in proof.halted]
    spans += [
        (s, e, "unproven_idle", f"{display}: no trades, REST unreachable: {proof.error}")
        for s, e in proof.unproven
    ]
    for start, end, reason, detail in spans:
        conn.execute(
            load_sql("record_gap"),
            {
                "symbol": symbol,
                "gap_start": to_datetime(start),
                "gap_end": to_datetime(end),
                "reason": reason,
                "detected_by": "import",
                # A halt is settled; unproven minutes stay open for heal-gaps (or as they were).
                "healed": True if reason == "halt" else None,
                "detail": detail,
            },
        )
