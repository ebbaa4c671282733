"""What a data-quality run found, and its human summary (for the CLI and the task log)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from include.quality.checks import Severity, Window

logger = logging.getLogger(__name__)

# Enough offending rows to point at the defect without flooding a terminal.
SAMPLE_ROWS = 3


class QualityCheckFailed(RuntimeError):
    """At least one critical check found offending rows; the message is the summary."""

    def __init__(self, report: QualityReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass(frozen=True)
class CheckResult:
    """One expectation's outcome: how many offending rows and the first few of them."""

    name: str
    table: str
    description: str
    severity: Severity
    success: bool
    unexpected_count: int
    rows: tuple[dict[str, Any], ...] = ()
    # What the check looked at: the candles it compared, and those it deferred to a later run
    # because one of their minutes was written after their build read them. A check that
    # defers nothing compared its table's rows in the window (None: not a candle table).
    compared: int | None = None
    deferred: int = 0

    @property
    def symbols(self) -> list[str]:
        """The symbols the offending rows name, in order of appearance."""
        found = (row.get("symbol") for row in self.rows)
        return list(dict.fromkeys(s for s in found if s))

    def describe(self) -> str:
        """Lines naming the expectation, table, symbols and a few offending rows."""
        symbols = ", ".join(self.symbols) or "-"
        head = (
            f"{self.name} on {self.table}: {self.unexpected_count} offending row(s), "
            f"symbol(s) {symbols} ({self.description})"
        )
        lines = [head]
        lines += [f"    {format_row(row)}" for row in self.rows[:SAMPLE_ROWS]]
        if self.unexpected_count > SAMPLE_ROWS:
            lines.append(f"    ... and {self.unexpected_count - SAMPLE_ROWS} more")
        return "\n".join(lines)


def format_row(row: dict[str, Any]) -> str:
    """One offending row as `key=value` pairs, with exact decimals and ISO times."""
    return " ".join(f"{key}={format_value(value)}" for key, value in row.items())


def format_value(value: Any) -> str:
    """A value as a user would type it back into SQL."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@dataclass
class QualityReport:
    """The outcome of one run over one window: per-check results and rows checked per table."""

    window: Window
    symbols: tuple[str, ...] | None
    results: list[CheckResult] = field(default_factory=list)
    rows_checked: dict[str, int] = field(default_factory=dict)
    missing_tables: list[str] = field(default_factory=list)
    reconciled: dict[str, int] = field(default_factory=dict)
    data_docs: str | None = None
    seconds: float = 0.0

    @property
    def failures(self) -> list[CheckResult]:
        """Critical checks that found offending rows."""
        return [r for r in self.results if not r.success and r.severity == Severity.CRITICAL]

    @property
    def notes(self) -> list[CheckResult]:
        """Informational checks that found rows (e.g. unhealed gaps)."""
        return [r for r in self.results if not r.success and r.severity != Severity.CRITICAL]

    @property
    def success(self) -> bool:
        return not self.failures and not self.missing_tables

    def summary(self) -> str:
        """A first line that says it all, then the details (one block per failed check)."""
        symbols = "ALL" if self.symbols is None else " ".join(self.symbols)
        total_rows = sum(self.rows_checked.values())
        if self.success:
            lines = [
                f"data quality passed: {len(self.results)} expectations on "
                f"{len(self.rows_checked)} tables, {total_rows} rows in window {self.window} "
                f"(symbols {symbols}, {self.seconds:.1f} s)"
            ]
        else:
            failed = len(self.failures) + len(self.missing_tables)
            first = self.failures[0] if self.failures else None
            reason = (
                f"table {self.missing_tables[0]} does not exist"
                if self.missing_tables
                else f"{first.name} on {first.table} ({', '.join(first.symbols) or '-'})"
            )
            lines = [
                f"data quality FAILED: {failed} check(s) failed, first {reason}; "
                f"window {self.window}, symbols {symbols}"
            ]
            lines += [
                f"structure_columns on {t}: table does not exist" for t in self.missing_tables
            ]
            lines += [r.describe() for r in self.failures]
        for table, count in self.rows_checked.items():
            passed = sum(1 for r in self.results if r.table == table and r.success)
            checked = sum(1 for r in self.results if r.table == table)
            lines.append(f"  {table}: {count} rows, {passed}/{checked} checks passed")
            lines += [
                f"    {r.name}: {r.compared} compared, {r.deferred} deferred"
                for r in self.results
                if r.table == table and r.compared is not None
            ]
        if self.reconciled:
            shares = ", ".join(
                f"{symbol} {self.differing(symbol)}/{n}" for symbol, n in self.reconciled.items()
            )
            lines.append(f"  reconciliation live vs klines (differing/compared): {shares}")
        lines += [f"  note: {r.describe()}" for r in self.notes]
        if self.data_docs:
            lines.append(f"  Data Docs: {self.data_docs}")
        return "\n".join(lines)

    def counts(self) -> dict[tuple[str, str], tuple[int | None, int]]:
        """(check, table) -> (rows compared, rows deferred), for every check of the run."""
        return {(r.name, r.table): (r.compared, r.deferred) for r in self.results}

    def differing(self, symbol: str) -> int:
        """How many closed live candles of a symbol differ from their kline in the window."""
        for result in self.results:
            if result.name == "live_reconciliation":
                for row in result.rows:
                    if row.get("symbol") == symbol:
                        return int(row["symbol_differing"])
        return 0
