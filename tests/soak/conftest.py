"""The soak's summary (wall time, market time, minutes verified, faults) in pytest's output."""

from __future__ import annotations

import pytest

from tests.support.soak import SUMMARY_KEY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print each soak's summary, passed or failed, also without -s."""
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for key, value in getattr(report, "user_properties", []):
                if key == SUMMARY_KEY:
                    terminalreporter.section(f"soak summary: {report.nodeid}")
                    terminalreporter.line(str(value))
