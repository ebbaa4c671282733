"""A long history load says how far it is: symbols done, klines fetched, time left."""

from __future__ import annotations

from include.history.progress import Progress


def test_progress_counts_symbols_done_and_klines() -> None:
    """A symbol counts as done once all its pages are written; each line names the totals."""
    lines: list[str] = []
    progress = Progress(lines.append, every=0.0)
    progress.start(["AUSDT", "AUSDT", "BUSDT"])
    progress.written("AUSDT", 1, 1000)
    assert lines[-1].startswith("loading history: 0 of 2 symbols, 1,000 klines (1 of 3 pages)")
    progress.written("AUSDT", 1, 440)
    assert lines[-1].startswith("loading history: 1 of 2 symbols, 1,440 klines (2 of 3 pages)")
    assert lines[-1].endswith("min left")
