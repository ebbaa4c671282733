"""Airflow's hostname_callable for Celery workers that share one machine in a test."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """AIRFLOW_WORKER_NAME when set (one per worker), else the machine's FQDN as by default.

    Airflow records this in task_instance.hostname; two workers on one host would otherwise
    both report the same name, and the test could not tell which ran a task.
    """
    return os.environ.get("AIRFLOW_WORKER_NAME") or socket.getfqdn()
