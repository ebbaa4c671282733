"""Airflow plugin: the api-server refuses a request whose Host it is not served under (400),
and a state-changing request a browser sent from another origin (403).

The logic lives in include/platform/trusted_hosts.py; AIRFLOW_ALLOWED_HOSTS adds names, `*`
turns the Host check off; AIRFLOW__API__BASE_URL's origin may write besides the Host's own.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.platform.trusted_hosts import SameOrigin, TrustedHosts, allowed_hosts, own_origins


class TrustedHostsPlugin(AirflowPlugin):
    """Registers the Host and the Origin checks on the api-server's root app."""

    name = "trusted_hosts"
    fastapi_root_middlewares = [  # noqa: RUF012 (Airflow reads the class attribute)
        {
            "name": "trusted_hosts",
            "middleware": TrustedHosts,
            "kwargs": {"allowed_hosts": allowed_hosts()},
        },
        {
            "name": "same_origin",
            "middleware": SameOrigin,
            "kwargs": {"origins": own_origins()},
        },
    ]
