"""Airflow Assets the DAGs exchange, declared once (the one include module importing Airflow)."""

from __future__ import annotations

from airflow.sdk import Asset

# Plain names: the postgres provider rejects postgres:// URIs without host/database/schema/table.
KLINES_1M = Asset("market.klines_1m")
CANDLES_1M_LIVE = Asset("market.candles_1m_live")
ANALYTICS_CANDLES = Asset("analytics.candles")
