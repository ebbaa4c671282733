"""The history DAGs' task bodies as plain functions over JSON-friendly arguments."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, timedelta

from include import backfill, dumps, heal
from include.settings import get_settings
from include.times import parse_utc

logger = logging.getLogger(__name__)


def resolve_symbols(symbols: Sequence[str] | None) -> list[str]:
    """The given symbols, or SYMBOLS (ALL needs an explicit list for history jobs)."""
    if symbols:
        return [s.upper() for s in symbols]
    configured = get_settings().symbols
    if configured is None:
        raise ValueError("SYMBOLS=ALL: give the history jobs an explicit symbol list")
    return list(configured)


def plan_rest_chunks(
    symbols: Sequence[str] | None, start: str, end: str, *, chunk_days: int = 7
) -> list[dict[str, str]]:
    """One job per symbol and chunk of at most chunk_days over [start, end)."""
    first, last = parse_utc(start), parse_utc(end)
    if last <= first:
        raise ValueError(f"empty range {start} .. {end}")
    jobs = []
    for symbol in resolve_symbols(symbols):
        cursor = first
        while cursor < last:
            stop = min(cursor + timedelta(days=chunk_days), last)
            jobs.append({"symbol": symbol, "start": cursor.isoformat(), "end": stop.isoformat()})
            cursor = stop
    return jobs


def run_rest_chunk(job: dict[str, str]) -> int:
    """Backfill one planned chunk; return the rows new or changed."""
    result = backfill.backfill_rest([job["symbol"]], parse_utc(job["start"]), parse_utc(job["end"]))
    return result.total_changed


def plan_dump_files(
    symbols: Sequence[str] | None,
    kinds: Sequence[str],
    start: str,
    end: str,
    *,
    folder: str | None = None,
) -> list[str]:
    """The files to import: a local folder's dumps, or the daily URLs of [start, end)."""
    if folder:
        return dumps.expand_inputs([folder])
    first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    return dumps.dump_urls(resolve_symbols(symbols), kinds, first, max(last, first + timedelta(1)))


def run_dump_file(spec: str) -> int:
    """Import one dump; return the rows new or changed (0 when already imported)."""
    return dumps.import_file(spec).changed


def run_heal(symbols: Sequence[str] | None, *, max_minutes: int) -> int:
    """Heal gaps; return the minutes filled."""
    return heal.heal_gaps(resolve_symbols(symbols), max_minutes=max_minutes).total_filled
