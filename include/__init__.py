"""Batch-side library: plain Python the DAGs and the CLI call (never imports Airflow).

Grouped by role: platform/ (database, settings, Binance REST, symbols, alerts), history/ (the
loads into market.klines_1m and their bookkeeping), timeframes/ (dbt), quality/ (Great
Expectations), with jobs.py (every batch job once) and cli.py on top.
"""
