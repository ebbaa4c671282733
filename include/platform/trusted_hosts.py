"""Which requests Airflow's api-server answers: no DNS-rebinding page, no cross-origin write.

A web page on another origin can point a name it controls at 127.0.0.1 and then talk to a
loopback server from the user's browser; the one thing it cannot forge is the Host header,
which carries its own name. So the api-server answers only the names it is served under:
loopback, the address it listens on, the host of its base URL, and AIRFLOW_ALLOWED_HOSTS.

A page on another port of the same host (the read API's chart, anything a local process
serves) is the same *site*: the browser sends it Airflow's login cookie along. So a request
that changes something (POST, PUT, PATCH, DELETE) is refused (403) when the browser says it
came from another origin: its Origin is not the api-server's own (its Host, or its base URL),
or, without an Origin, Sec-Fetch-Site says another site or another port sent it. Programs
(task runners, the CLI, curl) send neither header and pass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = ("localhost", "127.0.0.1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "*")
# Answered whatever the Host: Kubernetes probes send the pod's IP as Host, and the health
# report is public (no login) and changes nothing.
HEALTH_PATHS = ("/api/v2/monitor/health",)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


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


def origin_netloc(origin: str) -> str | None:
    """An Origin (or base URL) as host[:port], lower-case, the scheme's default port dropped;
    None for `null` or anything that is not an http(s) origin."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host if port in (None, DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"


def own_origins(env: Mapping[str, str] | None = None) -> list[str]:
    """The origins besides the request's own Host that may write: the base URL's (a proxy that
    rewrites Host serves the UI under it)."""
    env = os.environ if env is None else env
    base = origin_netloc(env.get("AIRFLOW__API__BASE_URL", ""))
    return [base] if base else []


class SameOrigin:
    """Refuses (403) a state-changing request a browser sent from another origin."""

    def __init__(self, app: ASGIApp, origins: list[str] | tuple[str, ...] = ()) -> None:
        self.app = app
        self.origins = frozenset(origins)

    def allowed(self, headers: Headers) -> bool:
        origin = headers.get("origin")
        if origin is None:
            # Browsers that send no Origin on this request still say where it came from.
            return headers.get("sec-fetch-site") not in ("cross-site", "same-site")
        netloc = origin_netloc(origin)
        return netloc is not None and netloc in {headers.get("host", "").lower(), *self.origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        unsafe = scope["type"] == "http" and scope["method"] in UNSAFE_METHODS
        if unsafe and not self.allowed(Headers(scope=scope)):
            refused = PlainTextResponse("cross-origin request refused", status_code=403)
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)
