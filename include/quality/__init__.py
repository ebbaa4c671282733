"""Data-quality checks with Great Expectations: suites as code over SQL run inside PostgreSQL."""

from include.quality.checks import Check, Window, all_checks
from include.quality.report import CheckResult, QualityCheckFailed, QualityReport
from include.quality.runner import default_window, market_minute, run_checks, run_window

__all__ = [
    "Check",
    "CheckResult",
    "QualityCheckFailed",
    "QualityReport",
    "Window",
    "all_checks",
    "default_window",
    "market_minute",
    "run_checks",
    "run_window",
]
