"""Planning the history DAGs' mapped tasks: every symbol and day exactly once, within Airflow."""

from __future__ import annotations

from collections import Counter

import pytest

from include.jobs import MAX_MAPPED_TASKS, plan_dump_files, plan_rest_chunks
from include.platform.symbols import resolve_symbols, trading_symbols

MANY = [f"S{i:04d}USDT" for i in range(2000)]


def test_rest_plan_at_all_scale_stays_under_the_mapping_limit() -> None:
    """2,000 symbols over 30 days: at most 256 tasks, each (symbol, chunk) planned exactly once."""
    jobs = plan_rest_chunks(MANY, "2025-01-01", "2025-01-31", chunk_days=7)
    assert len(jobs) <= MAX_MAPPED_TASKS
    seen = Counter((s, j["start"]) for j in jobs for s in j["symbols"])
    assert len(seen) == 2000 * 5
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
