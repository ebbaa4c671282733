"""Airflow plugin: the api-server refuses a request whose Host it is not served under (400).

The logic lives in include/platform/trusted_hosts.py; AIRFLOW_ALLOWED_HOSTS adds names, `*`
turns the check off.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.platform.trusted_hosts import TrustedHosts, allowed_hosts


class TrustedHostsPlugin(AirflowPlugin):
    """Registers the Host check on the api-server's root app."""

    name = "trusted_hosts"
    fastapi_root_middlewares = [  # noqa: RUF012 (Airflow reads the class attribute)
        {
            "name": "trusted_hosts",
            "middleware": TrustedHosts,
            "kwargs": {"allowed_hosts": allowed_hosts()},
        }
    ]
