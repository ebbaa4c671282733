"""Processes a test stopped with SIGSTOP (a process that hangs without dying)."""

from __future__ import annotations

import os
import signal


def kill_stopped(pids: list[int]) -> None:
    """Continue and kill each of them, whatever the test did meanwhile (gone already is fine)."""
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
