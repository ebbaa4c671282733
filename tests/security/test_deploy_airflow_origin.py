"""Airflow's api-server refuses a state-changing request a browser sent from another origin,
its login cookie included (issue #42, item 12): a page another local port serves is the same
site, so the browser sends it Airflow's cookie."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from include.platform import pgserver
from include.platform.trusted_hosts import SameOrigin, origin_netloc
from tests.support.airflow_server import api_server, login_env

pytestmark = pytest.mark.slow


def test_a_cross_origin_post_with_the_login_cookie_is_refused(
    airflow_home: Path, tmp_path: Path
) -> None:
    """The real api-server with the platform's plugin: a POST carrying the login cookie from
    another port's page (Origin, or Sec-Fetch-Site without one) gets 403 and changes nothing;
    the UI's own origin and a program (no Origin, a bearer token) still write."""
    port, other = pgserver.free_port(), pgserver.free_port()
    passwords = tmp_path / "passwords.json"
    env = login_env(passwords, "origin-test-pw")
    with api_server(env, port, up_within=180) as base:
        login = httpx.post(
            f"{base}/auth/token",
            json={"username": "admin", "password": "origin-test-pw"},
            timeout=10,
        )
        assert login.status_code in (200, 201), login.text
        token = login.json()["access_token"]
        cookie = {"Cookie": f"_token={token}"}
        name = f"origin_{os.getpid()}"

        def create(suffix: str, headers: dict[str, str]) -> int:
            pool = {"name": f"{name}_{suffix}", "slots": 1, "include_deferred": False}
            return httpx.post(f"{base}/api/v2/pools", json=pool, headers=headers, timeout=10)

        # Another port of the same host: the chart page, or any local process's page.
        foreign = create("foreign", {**cookie, "Origin": f"http://127.0.0.1:{other}"})
        assert foreign.status_code == 403, foreign.text
        null = create("null", {**cookie, "Origin": "null"})
        assert null.status_code == 403, null.text
        no_origin = create("fetch", {**cookie, "Sec-Fetch-Site": "same-site"})
        assert no_origin.status_code == 403, no_origin.text
        pools = httpx.get(f"{base}/api/v2/pools", headers=cookie, timeout=10).json()["pools"]
        assert not [p for p in pools if p["name"].startswith(name)], "a refused POST wrote"
        # The UI itself, and a program with a bearer token, still write.
        own = create("own", {**cookie, "Origin": base, "Sec-Fetch-Site": "same-origin"})
        assert own.status_code in (200, 201), own.text
        program = create("program", {"Authorization": f"Bearer {token}"})
        assert program.status_code in (200, 201), program.text
        # Reads are not writes: a GET from another origin is answered (CORS keeps it unread).
        read = httpx.get(
            f"{base}/api/v2/pools", headers={**cookie, "Origin": f"http://127.0.0.1:{other}"}
        )
        assert read.status_code == 200


def test_origins_compare_as_the_browser_sends_them() -> None:
    """Default ports drop, case folds, `null` and non-http schemes are no origin; the base URL's
    origin may write besides the Host's own."""
    assert origin_netloc("http://LocalHost:80") == "localhost"
    assert origin_netloc("https://airflow.example.com:443/") == "airflow.example.com"
    assert origin_netloc("http://127.0.0.1:8000") == "127.0.0.1:8000"
    assert origin_netloc("http://[::1]:8080") == "[::1]:8080"
    assert origin_netloc("null") is None
    assert origin_netloc("file://") is None
    same = SameOrigin(app=None, origins=["airflow.example.com"])
    from starlette.datastructures import Headers

    def ok(**headers: str) -> bool:
        return same.allowed(Headers({k.replace("_", "-"): v for k, v in headers.items()}))

    assert ok(host="127.0.0.1:8080", origin="http://127.0.0.1:8080")
    assert not ok(host="127.0.0.1:8080", origin="http://127.0.0.1:8000")
    assert not ok(host="127.0.0.1:8080", origin="http://localhost:8080")
    assert ok(host="127.0.0.1:8080", origin="https://airflow.example.com")
    assert ok(host="127.0.0.1:8080")
    assert ok(host="127.0.0.1:8080", sec_fetch_site="same-origin")
    assert ok(host="127.0.0.1:8080", sec_fetch_site="none")
    assert not ok(host="127.0.0.1:8080", sec_fetch_site="cross-site")
