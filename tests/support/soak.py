"""The key under which a soak test leaves its summary for the terminal report."""

from __future__ import annotations

SUMMARY_KEY = "soak_summary"
