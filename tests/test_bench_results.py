"""The benches' results table: a recorded run becomes its row, rendering is idempotent, and the
table in docs/benchmarks.md is exactly what the checked-in results render to."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bench import results

DOC = """# Benchmarks

Intro.

<!-- bench-table:start -->
stale
<!-- bench-table:end -->

[History](benchmarks-history.md)
"""


def test_a_recorded_run_becomes_its_row(tmp_path) -> None:
    path = results.record(
        "import_bench",
        "PYTHONPATH=. .venv/bin/python bench/import_bench.py",
        {"import vs bare parse": "1.89x median", "import": "1.28 s | median"},
        rounds=3,
        spread="0.93-2.00x",
        directory=tmp_path,
    )
    saved = json.loads(path.read_text())
    assert path == tmp_path / "import_bench.json"
    assert saved["date"] == datetime.now(UTC).date().isoformat()
    assert saved["machine"] == results.machine()
    assert "CPUs" in saved["machine"]
    assert "GiB" in saved["machine"]
    assert saved["commit"] == results.commit()
    assert results.render(results.load(tmp_path)).splitlines()[2] == (
        "| import_bench | `PYTHONPATH=. .venv/bin/python bench/import_bench.py` | "
        f"{saved['machine']} | {saved['date']} | {saved['commit']} | "
        "import vs bare parse: 1.89x median<br>import: 1.28 s \\| median<br>3 rounds"
        "<br>spread 0.93-2.00x |"
    )


def test_rows_are_sorted_and_rendering_twice_changes_nothing(tmp_path) -> None:
    for bench in ("volume_bench", "api_bench"):
        results.record(bench, f"bench/{bench}.py", {"p99": "1 ms"}, directory=tmp_path)
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC)
    assert results.update(doc, tmp_path) is True
    once = doc.read_text()
    assert results.update(doc, tmp_path) is False
    assert doc.read_text() == once
    table = once.split(results.START)[1].split(results.END)[0]
    assert [line.split(" | ")[0] for line in table.strip().splitlines()[2:]] == [
        "| api_bench",
        "| volume_bench",
    ]
    assert once.startswith("# Benchmarks\n\nIntro.\n\n")
    assert once.endswith("history.md)\n")


def test_a_figure_too_long_for_a_cell_is_refused_by_name(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"figures\['p99'\]"):
        results.record("x_bench", "bench/x_bench.py", {"p99": "9" * 400}, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_page_without_the_markers_is_refused(tmp_path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n")
    with pytest.raises(ValueError, match="bench-table:start"):
        results.update(doc, tmp_path)


def test_the_docs_table_is_what_the_checked_in_results_render() -> None:
    """`python -m bench.results` after a bench run; a table edited by hand fails here."""
    text = results.DOC.read_text()
    table = text.split(results.START)[1].split(results.END)[0].strip()
    assert results.load()
    assert table == results.render(results.load())


def test_every_cell_of_the_checked_in_results_is_short() -> None:
    for result in results.load():
        for name, value in result["figures"].items():
            assert len(f"{name}: {value}") <= results.MOST_CHARS, (result["bench"], name)


def test_a_bench_ending_with_its_verdict_records_its_last_lines(capsys) -> None:
    """scale_bench's sections and platform_bench print their figures; the lines still print."""
    with results.printed() as lines:
        print("setup")
        print("p99 49 ms")
        print("x" * 400)
    assert capsys.readouterr().out.splitlines()[:2] == ["setup", "p99 49 ms"]
    figures = results.last_lines(lines, keep=2)
    assert figures["line 1"] == "p99 49 ms"
    assert len(figures["line 2"]) <= results.MOST_CHARS - 10
