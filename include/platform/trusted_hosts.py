"""Which Host headers Airflow's api-server answers: a DNS-rebinding page cannot reach it.

A web page on another origin can point a name it controls at 127.0.0.1 and then talk to a
loopback server from the user's browser; the one thing it cannot forge is the Host header,
which carries its own name. So the api-server answers only the names it is served under:
loopback, the address it listens on, the host of its base URL, and AIRFLOW_ALLOWED_HOSTS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import Receive, Scope, Send

LOOPBACK = ("localhost", "127.0.0.1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "*")
# Answered whatever the Host: Kubernetes probes send the pod's IP as Host, and the health
# report is public (no login) and changes nothing.
HEALTH_PATHS = ("/api/v2/monitor/health",)


def allowed_hosts(env: Mapping[str, str] | None = None) -> list[str]:
    """The Host names the api-server answers (Starlette's TrustedHostMiddleware patterns:
    `*.example.com` for subdomains, `*` for any, which is the opt-out)."""
    env = os.environ if env is None else env
    hosts = list(LOOPBACK)
    listen = env.get("AIRFLOW__API__HOST", "").strip()
    if listen not in WILDCARD_ADDRESSES:
        hosts.append(listen)
    base = env.get("AIRFLOW__API__BASE_URL", "").strip()
    if base and urlsplit(base).hostname:
        hosts.append(urlsplit(base).hostname)
    execution = env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "").strip()
    if execution and urlsplit(execution).hostname:
        # Task runners call the api-server by this name (a Compose service, a Kubernetes one).
        hosts.append(urlsplit(execution).hostname)
    hosts += [h.strip() for h in env.get("AIRFLOW_ALLOWED_HOSTS", "").split(",") if h.strip()]
    return list(dict.fromkeys(hosts))


class TrustedHosts(TrustedHostMiddleware):
    """Starlette's TrustedHostMiddleware, the health report aside (HEALTH_PATHS)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
