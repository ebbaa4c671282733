"""Failure alerts: a failed task's run posted to ALERT_WEBHOOK_URL (Slack-style JSON)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from include.platform.settings import get_settings

logger = logging.getLogger(__name__)


def failure_payload(context: Mapping[str, Any]) -> dict[str, Any]:
    """What a person needs to act: which DAG, run and task failed, why, and where the log is."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    map_index = getattr(ti, "map_index", -1)
    run_id = getattr(dag_run, "run_id", None) or getattr(ti, "run_id", "?")
    error = context.get("exception")
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0] if error else "?"
    where = f"{task_id}[{map_index}]" if map_index not in (None, -1) else task_id
    return {
        "text": f"Airflow: {dag_id} failed in {where} (run {run_id}): {reason}",
        "dag_id": dag_id,
        "task_id": task_id,
        "map_index": map_index,
        "run_id": run_id,
        "try_number": getattr(ti, "try_number", None),
        "error": reason,
        "log_url": getattr(ti, "log_url", None),
    }


def post_alert(url: str, payload: Mapping[str, Any]) -> None:
    """POST the payload, retrying briefly: a flaky webhook must not hide a failure."""
    import httpx
    from tenacity import retry, stop_after_attempt, wait_exponential

    @retry(stop=stop_after_attempt(3), wait=wait_exponential(0.5, max=4), reraise=True)
    def send() -> None:
        httpx.post(url, json=dict(payload), timeout=10).raise_for_status()

    send()


def on_task_failure(context: Mapping[str, Any]) -> None:
    """Airflow on_failure_callback: alert when ALERT_WEBHOOK_URL is set; never raise."""
    url = get_settings().alert_webhook_url
    if not url:
        return
    payload = failure_payload(context)
    try:
        post_alert(url, payload)
    except Exception as err:  # an alert that cannot be sent must not mask the task's own error
        logger.error("alert to ALERT_WEBHOOK_URL failed: %s (%s)", err, payload["text"])
    else:
        logger.info("alert sent: %s", payload["text"])
