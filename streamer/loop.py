"""The event loop the streamer runs on: uvloop when it is importable, asyncio's own otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_factory(name: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A ``loop_factory`` for ``asyncio.Runner`` (None: asyncio's default loop).

    ``name`` is ``STREAMER_LOOP``: ``auto`` (uvloop if importable), ``uvloop`` or ``asyncio``.
    uvloop's C transports read the socket and run the protocol callbacks for a fraction of
    the default loop's cost, and under a busy feed that is a large share of each frame's cost.
    """
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise RuntimeError("STREAMER_LOOP=uvloop but uvloop is not installed") from None
        return None
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: which implementation ``loop`` is."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
