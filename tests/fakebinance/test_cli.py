"""The fake as a separate process (python -m fakebinance) and in a background thread."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from fakebinance.clock import MarketClock
from fakebinance.server import FakeBinance

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def fetch(url: str, method: str = "GET") -> object:
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def start_fake(*args: str) -> subprocess.Popen:
    """python -m fakebinance on a free port; its URL is the first line of its stdout."""
    return subprocess.Popen(
        [sys.executable, "-m", "fakebinance", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )


def test_module_cli_prints_url_and_exits_zero_on_sigterm():
    """python -m fakebinance prints its URL, serves REST and exits 0 on SIGTERM."""
    proc = start_fake(
        "--seed",
        "7",
        "--symbols",
        "BTCUSDT,PEPEUSDT",
        "--n-symbols",
        "3",
        "--speed",
        "60",
        "--start",
        "2025-03-12T00:00:00+00:00",
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        info = fetch(f"{url}/api/v3/exchangeInfo")
        assert [s["symbol"] for s in info["symbols"]] == [
            "BTCUSDT",
            "PEPEUSDT",
            "SYM0001USDT",
            "SYM0002USDT",
            "SYM0003USDT",
        ]
        clock = fetch(f"{url}/fake/clock")
        assert clock["iso"].startswith("2025-03-12T00:0")
        assert fetch(f"{url}/fake/faults/drop_connections", "POST")["ok"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_run_in_thread_for_synchronous_callers(config, now):
    """run_in_thread serves from a background loop; faults are callable from this thread."""
    with FakeBinance.run_in_thread(config, clock=MarketClock(start=now, speed=0)) as handle:
        assert fetch(f"{handle.url}/api/v3/ping") == {}
        rows = fetch(f"{handle.url}/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=2")
        assert len(rows) == 2
        handle.stall(0.1)
        assert handle.drop_connections() == 0
        assert handle.stats()["weight_total"] == 3
    assert not handle.thread.is_alive()


def test_sigterm_does_not_wait_for_a_cold_ticker_of_every_symbol():
    """SIGTERM while ticker/24hr of 500 symbols is still computing their days (tens of seconds
    cold): the fake exits at once instead of finishing the answer nobody will read."""
    proc = start_fake("--n-symbols", "500")
    try:
        url = proc.stdout.readline().strip()

        def ask() -> None:
            with contextlib.suppress(OSError):  # the answer never comes: the fake stops
                urllib.request.urlopen(f"{url}/api/v3/ticker/24hr", timeout=120).read()

        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        # Long enough for the request to reach the worker thread, far short of its answer.
        time.sleep(1.5)
        assert asking.is_alive(), "the cold ticker answered too soon to test the shutdown"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
