"""Fixtures for the dbt tests: the fake exchange's official klines, dbt's files in a temp dir."""

from __future__ import annotations

from tests.support.dbt_fixtures import dbt_target_path, market, window_klines

__all__ = ["dbt_target_path", "market", "window_klines"]
