"""Planning the history DAGs' mapped tasks: every symbol and day exactly once, within Airflow."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from include.jobs import MAX_MAPPED_TASKS, plan_dump_files, plan_reconcile, plan_rest_chunks
from include.platform.symbols import resolve_symbols, trading_symbols
from include.platform.times import parse_utc

MANY = [f"S{i:04d}USDT" for i in range(2000)]


def test_rest_plan_at_all_scale_stays_under_the_mapping_limit() -> None:
    """2,000 symbols over 30 days: at most MAX_MAPPED_TASKS tasks, each (symbol, chunk) planned
    exactly once; a chunk is 7 days rounded up to whole klines pages (11,000 minutes), so 4
    chunks."""
    jobs = plan_rest_chunks(MANY, "2025-01-01", "2025-01-31", chunk_days=7)
    assert len(jobs) <= MAX_MAPPED_TASKS
    seen = Counter((s, j["start"]) for j in jobs for s in j["symbols"])
    assert len(seen) == 2000 * 4
    assert set(seen.values()) == {1}


def test_small_rest_plan_keeps_one_symbol_per_task() -> None:
    """A few symbols keep the readable one-task-per-symbol-and-chunk fan-out."""
    jobs = plan_rest_chunks(["btcusdt", "ETHUSDT"], "2025-01-01", "2025-01-15", chunk_days=7)
    assert [(j["symbols"], j["start"][:10]) for j in jobs] == [
        (["BTCUSDT"], "2025-01-01"),
        (["BTCUSDT"], "2025-01-08"),
        (["ETHUSDT"], "2025-01-01"),
        (["ETHUSDT"], "2025-01-08"),
    ]


def test_a_rest_chunk_ends_on_a_whole_klines_page() -> None:
    """Every chunk but the range's last spans whole pages of 1,000 minutes: a year of one
    symbol asks for as many klines pages as its minutes need, not one more per chunk."""
    jobs = plan_rest_chunks(["BTCUSDT"], "2024-03-01", "2025-03-01", chunk_days=7)
    minutes = [(parse_utc(j["end"]) - parse_utc(j["start"])) // timedelta(minutes=1) for j in jobs]
    assert all(m % 1000 == 0 and m >= 7 * 1440 for m in minutes[:-1])
    pages = sum(-(-m // 1000) for m in minutes)
    assert pages == -(-sum(minutes) // 1000) == 526


def test_dump_plan_at_all_scale_is_batched() -> None:
    """2,000 symbols' klines and trades files for a day: batched, every URL once."""
    batches = plan_dump_files(MANY, ["klines", "trades"], "2025-01-01", "2025-01-02")
    assert len(batches) <= MAX_MAPPED_TASKS
    urls = [u for b in batches for u in b]
    assert len(urls) == len(set(urls)) == 4000


def test_all_resolves_to_the_trading_symbols(monkeypatch: pytest.MonkeyPatch) -> None:
    """SYMBOLS=ALL and an explicit ALL both become exchangeInfo's TRADING symbols."""
    info = {
        "symbols": [
            {"symbol": "ETHUSDT", "status": "TRADING"},
            {"symbol": "OLDUSDT", "status": "BREAK"},
            {"symbol": "BTCUSDT", "status": "TRADING"},
        ]
    }
    monkeypatch.setenv("SYMBOLS", "ALL")
    assert resolve_symbols(None, exchange_info=info) == ["BTCUSDT", "ETHUSDT"]
    assert resolve_symbols([], exchange_info=info) == ["BTCUSDT", "ETHUSDT"]
    monkeypatch.setenv("SYMBOLS", "PEPEUSDT")
    assert resolve_symbols(["all"], exchange_info=info) == trading_symbols(info)
    assert resolve_symbols(None, exchange_info=info) == ["PEPEUSDT"]


ALL_SIZED = [f"A{i:04d}USDT" for i in range(2100)]  # more than Binance's ~2,000 TRADING symbols
AIRFLOW_MAPPING_LIMIT = 1024  # Airflow's max_map_length


@pytest.mark.parametrize(
    ("start", "end", "chunk_days"),
    [
        ("2025-01-01", "2026-01-01", 7),  # ALL x 1 year, the DAG's default chunks
        ("2025-01-01", "2026-01-01", 1),  # a day per chunk: 365 chunks
        ("2019-01-01", "2026-01-01", 7),  # seven years of weeks: 366 chunks
    ],
)
def test_rest_plan_of_all_never_maps_more_than_airflow_allows(
    start: str, end: str, chunk_days: int
) -> None:
    """However long the range and short the chunks, ALL's backfill plan stays within the
    MAX_MAPPED_TASKS batches (Airflow refuses more than 1024 mapped tasks) and plans every
    symbol's every minute exactly once."""
    jobs = plan_rest_chunks(ALL_SIZED, start, end, chunk_days=chunk_days)
    assert len(jobs) <= MAX_MAPPED_TASKS < AIRFLOW_MAPPING_LIMIT
    spans: dict[str, list[tuple[str, str]]] = {}
    for job in jobs:
        for symbol in job["symbols"]:
            spans.setdefault(symbol, []).append((job["start"], job["end"]))
    assert sorted(spans) == sorted(ALL_SIZED)
    for chunks in spans.values():
        chunks.sort()
        assert chunks[0][0][:10] == start
        assert chunks[-1][1][:10] == end
        assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))


def test_dump_and_reconcile_plans_of_all_stay_within_the_mapping_limit() -> None:
    """ALL's dump import over a week (2 kinds: 29,400 files) and ALL's reconcile: batched into
    at most MAX_MAPPED_TASKS mapped tasks, each file and symbol once."""
    batches = plan_dump_files(ALL_SIZED, ["klines", "trades"], "2025-01-01", "2025-01-08")
    assert len(batches) <= MAX_MAPPED_TASKS
    urls = [u for b in batches for u in b]
    assert len(urls) == len(set(urls)) == 2100 * 2 * 7
    jobs = plan_reconcile(ALL_SIZED, "2025-01-01", "2025-01-08")
    assert len(jobs) <= MAX_MAPPED_TASKS
    assert sorted(s for j in jobs for s in j["symbols"]) == sorted(ALL_SIZED)


def test_only_the_planned_tasks_are_mapped() -> None:
    """Every `.expand` in dags/ maps over one of the planners above (heal-gaps maps nothing: one
    task loops over the symbols), so a new mapped task has to come with its own limit."""
    dags = Path(__file__).resolve().parents[2] / "dags"
    mapped = {
        path.name: re.findall(r"\.expand\((\w+)=(\w+)\(\)\)", path.read_text())
        for path in sorted(dags.glob("*.py"))
        if ".expand(" in path.read_text()
    }
    assert mapped == {
        "binance_backfill_rest.py": [("job", "plan")],
        "binance_import_dumps.py": [("specs", "list_files")],
        "reconcile.py": [("job", "plan")],
    }
    planners = {
        "binance_backfill_rest.py": "plan_rest_chunks(",
        "binance_import_dumps.py": "plan_dump_files(",
        "reconcile.py": "plan_reconcile(",
    }
    for name, planner in planners.items():
        assert planner in (dags / name).read_text()
