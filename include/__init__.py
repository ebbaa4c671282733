"""Batch-side library: plain Python the DAGs and the CLI call (never imports Airflow)."""
