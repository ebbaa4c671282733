"""The fake as a separate process (python -m fakebinance) and in a background thread."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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


def test_module_cli_prints_url_and_exits_zero_on_sigterm():
    """python -m fakebinance prints its URL, serves REST and exits 0 on SIGTERM."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fakebinance",
            "--port",
            "0",
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
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
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
