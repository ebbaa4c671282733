"""The event loop choice: uvloop when importable, asyncio's loop on request, bad names refused."""

from __future__ import annotations

import asyncio

import pytest

from streamer.config import StreamerConfig, load_config
from streamer.loop import loop_factory, loop_name


def test_auto_and_uvloop_pick_uvloop() -> None:
    """With uvloop installed, auto and uvloop both run the streamer on it."""
    for name in ("auto", "uvloop"):
        factory = loop_factory(name)
        assert factory is not None
        with asyncio.Runner(loop_factory=factory) as runner:
            assert loop_name(runner.get_loop()) == "uvloop"


def test_asyncio_keeps_the_default_loop() -> None:
    """STREAMER_LOOP=asyncio means asyncio's own loop (no factory)."""
    assert loop_factory("asyncio") is None
    with asyncio.Runner(loop_factory=loop_factory("asyncio")) as runner:
        assert loop_name(runner.get_loop()) == "asyncio"


def test_config_reads_and_checks_streamer_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """STREAMER_LOOP lands in the config, defaults to auto, and an unknown name is an error."""
    monkeypatch.delenv("STREAMER_LOOP", raising=False)
    assert load_config(database_url="postgresql://localhost/x").event_loop == "auto"
    monkeypatch.setenv("STREAMER_LOOP", "asyncio")
    assert load_config(database_url="postgresql://localhost/x").event_loop == "asyncio"
    with pytest.raises(ValueError, match="STREAMER_LOOP"):
        StreamerConfig(database_url="postgresql://localhost/x", symbols=None, event_loop="trio")
