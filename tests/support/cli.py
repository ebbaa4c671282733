"""Commands as a user runs them from the project root (`python -m include.cli` among them),
output captured, and the servers they start, waited for until they answer."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import httpx

from tests.support.paths import PROJECT_ROOT


def run_in_project(
    args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` from the project root, whatever its exit status (``env``: the whole
    environment; None: this process's)."""
    return subprocess.run(
        list(args),
        cwd=PROJECT_ROOT,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one command of the CLI (``env``: the whole environment; None: this process's)."""
    return run_in_project([sys.executable, "-m", "include.cli", *args], env, timeout)


def start_api(env: Mapping[str, str], **popen: object) -> subprocess.Popen[str]:
    """`python -m api` from the project root with ``env``, its stderr a text pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=PROJECT_ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def wait_healthy(
    url: str, within: float, what: str, pause: float, alive: Callable[[], None] = lambda: None
) -> None:
    """Poll ``url`` every ``pause`` s until it answers 200, ``alive()`` checked before each try;
    fail with ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        alive()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, what
        time.sleep(pause)
