"""The history DAGs' task bodies as plain functions over JSON-friendly arguments."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TypeVar

from include import backfill, dumps, heal
from include.symbols import resolve_symbols
from include.times import parse_utc

logger = logging.getLogger(__name__)
T = TypeVar("T")


# Airflow refuses to map more than 1024 task instances; stay well inside it at ALL's ~2,000
# symbols by giving each task a batch once there are more jobs than this.
MAX_MAPPED_TASKS = 256


def batched(items: Sequence[T], max_batches: int = MAX_MAPPED_TASKS) -> list[list[T]]:
    """items cut into at most max_batches consecutive batches of near-equal size."""
    size = max(1, -(-len(items) // max_batches))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def plan_rest_chunks(
    symbols: Sequence[str] | None, start: str, end: str, *, chunk_days: int = 7
) -> list[dict[str, object]]:
    """Jobs over [start, end): per chunk of at most chunk_days, a batch of symbols each.

    A batch holds one symbol unless there are more jobs than MAX_MAPPED_TASKS (SYMBOLS=ALL);
    chunks are longer than chunk_days when the range holds more than MAX_MAPPED_TASKS of them.
    """
    first, last = parse_utc(start), parse_utc(end)
    if last <= first:
        raise ValueError(f"empty range {start} .. {end}")
    # Years of history in days (or weeks of seven-day chunks past five years) would make more
    # chunks than Airflow maps, even one symbol batch each: longer chunks then.
    chunk_days = max(chunk_days, math.ceil((last - first) / timedelta(days=MAX_MAPPED_TASKS)))
    chunks = []
    cursor = first
    while cursor < last:
        stop = min(cursor + timedelta(days=chunk_days), last)
        chunks.append((cursor, stop))
        cursor = stop
    names = resolve_symbols(symbols)
    per_chunk = max(1, MAX_MAPPED_TASKS // len(chunks))
    return [
        {"symbols": group, "start": a.isoformat(), "end": b.isoformat()}
        for group in batched(names, per_chunk)
        for a, b in chunks
    ]


def run_rest_chunk(job: dict[str, object]) -> int:
    """Backfill one planned job; return the rows new or changed."""
    names = job.get("symbols") or [job["symbol"]]
    result = backfill.backfill_rest(names, parse_utc(job["start"]), parse_utc(job["end"]))
    return result.total_changed


def plan_dump_files(
    symbols: Sequence[str] | None,
    kinds: Sequence[str],
    start: str,
    end: str,
    *,
    folder: str | None = None,
) -> list[list[str]]:
    """The files to import, in batches: a local folder's dumps, or the daily URLs of [start, end).

    A batch holds one file unless there are more files than MAX_MAPPED_TASKS (SYMBOLS=ALL).
    """
    if folder:
        return batched(dumps.expand_inputs([folder]))
    first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    urls = dumps.dump_urls(resolve_symbols(symbols), kinds, first, max(last, first + timedelta(1)))
    return batched(urls)


def run_dump_files(specs: Sequence[str]) -> int:
    """Import a batch of dumps, each in its own transaction; return the rows new or changed.

    A file already imported with the same checksum is skipped, so a retried batch redoes only
    the files after the one that failed.
    """
    return sum(dumps.import_file(spec).changed for spec in specs)


def run_heal(symbols: Sequence[str] | None, *, max_minutes: int) -> int:
    """Heal gaps; return the minutes filled."""
    return heal.heal_gaps(symbols or None, max_minutes=max_minutes).total_filled
