"""The benches' latest figures: record() keeps a run's in bench/results/<bench>.json, and
`python -m bench.results` renders every such file as the table in docs/benchmarks.md."""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"
# A figure is a table cell's line, not a paragraph: the history page holds the prose.
MOST_CHARS = 300
HEADER = "| bench | command | machine | date | commit | figures |\n|---|---|---|---|---|---|"


def machine() -> str:
    """This machine as a reader compares it with theirs (never its host name)."""
    gib = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                gib = str(round(int(line.split()[1]) / 1024**2))
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {gib} GiB, Python {platform.python_version()}"


def commit() -> str:
    """The checked-out commit, or "unknown" outside a git checkout."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else "unknown"


def command_line() -> str:
    """The command this bench was started with, in the form the docs quote."""
    script = f"bench/{Path(sys.argv[0]).name}"
    return shlex.join(["PYTHONPATH=.", ".venv/bin/python", script, *sys.argv[1:]])


def record(
    bench: str,
    command: str,
    figures: dict[str, str],
    *,
    rounds: int | None = None,
    spread: str | None = None,
    directory: Path | None = None,
) -> Path:
    """Write a run's headline figures to <directory>/<bench>.json, replacing the last run's
    (bench/results/, or BENCH_RESULTS_DIR's: a test's run of a bench leaves the repo's alone)."""
    directory = directory or Path(os.environ.get("BENCH_RESULTS_DIR") or RESULTS)
    if not figures:
        raise ValueError(f"figures: {bench} records none")
    for name, value in figures.items():
        if len(f"{name}: {value}") > MOST_CHARS:
            raise ValueError(f"figures[{name!r}]: longer than {MOST_CHARS} characters")
    result = {
        "bench": bench,
        "command": command,
        "machine": machine(),
        "date": datetime.now(UTC).date().isoformat(),
        "commit": commit(),
        "figures": figures,
        "rounds": rounds,
        "spread": spread,
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{bench}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"recorded {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


class _Tee(io.TextIOBase):
    """Writes through to the real stdout and keeps a copy."""

    def __init__(self, out) -> None:
        self.out, self.kept = out, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()


@contextlib.contextmanager
def printed() -> Iterator[list[str]]:
    """Print as before, and collect the lines printed (filled when the block ends): for a bench
    whose headline figures are the lines it ends with."""
    lines: list[str] = []
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        yield lines
    lines.extend(line.strip() for line in tee.kept.getvalue().splitlines() if line.strip())


def last_lines(lines: list[str], keep: int = 3) -> dict[str, str]:
    """The last `keep` lines printed, as figures short enough for a cell."""
    tail = lines[-keep:]
    return {
        f"line {n}": text if len(text) <= MOST_CHARS - 10 else text[: MOST_CHARS - 11] + "…"
        for n, text in enumerate(tail, 1)
    }


def load(directory: Path = RESULTS) -> list[dict]:
    """Every recorded result, sorted by bench name."""
    results = [json.loads(path.read_text()) for path in directory.glob("*.json")]
    return sorted(results, key=lambda result: result["bench"])


def cell(text: str) -> str:
    """Text that stays inside its Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def row(result: dict) -> str:
    """One result as a table row: figures one per line, then rounds and spread."""
    figures = [f"{name}: {value}" for name, value in result["figures"].items()]
    if result.get("rounds") is not None:
        figures.append(f"{result['rounds']} rounds")
    if result.get("spread"):
        figures.append(f"spread {result['spread']}")
    cells = [
        result["bench"],
        f"`{result['command']}`",
        result["machine"],
        result["date"],
        result["commit"],
        "<br>".join(figures),
    ]
    return "| " + " | ".join(cell(text) for text in cells) + " |"


def render(results: list[dict]) -> str:
    """The whole table, header included."""
    return "\n".join([HEADER, *(row(result) for result in results)])


def update(doc: Path = DOC, directory: Path = RESULTS) -> bool:
    """Replace the table between the markers in doc with the rendered one; True if it changed."""
    text = doc.read_text()
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"{doc.name}: needs one {START} before one {END}")
    before, rest = text.split(START)
    _, after = rest.split(END)
    new = f"{before}{START}\n{render(load(directory))}\n{END}{after}"
    if new != text:
        doc.write_text(new)
    return new != text


def main() -> None:
    changed = update()
    print(f"{DOC.relative_to(ROOT)}: table {'updated' if changed else 'unchanged'}")


if __name__ == "__main__":
    main()
