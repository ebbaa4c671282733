"""The DAGs' shared declarations (include/platform/dag_args.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from include.platform.dag_args import window


def test_a_manual_run_with_its_own_window_needs_no_data_interval() -> None:
    """Airflow 3 gives a run triggered without a logical date no data interval in its context:
    a window given in the params is used without looking for one."""
    context = {"params": {"start": "2025-01-01", "end": "2025-01-02"}}
    assert window(context) == ("2025-01-01", "2025-01-02")
    assert window(context, days=True) == ("2025-01-01", "2025-01-02")


def test_a_scheduled_run_covers_its_data_interval() -> None:
    """Without params, the run's data interval; as days for the dump import."""
    context = {
        "params": {"start": None, "end": None},
        "data_interval_start": datetime(2025, 3, 1, tzinfo=UTC),
        "data_interval_end": datetime(2025, 3, 2, tzinfo=UTC),
    }
    assert window(context) == ("2025-03-01T00:00:00+00:00", "2025-03-02T00:00:00+00:00")
    assert window(context, days=True) == ("2025-03-01", "2025-03-02")
