"""The trade feed's outgoing frames: many queued frames to one write."""

from __future__ import annotations

import asyncio
import collections
import struct

from aiohttp import WSMsgType, web

# Frames joined into one write, and the bytes the transport may hold before the sender waits.
WRITE_BATCH = 512
WRITE_HIGH_WATER = 1 << 20


def text_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed, final text frame (RFC 6455 5.2), as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


async def send_queued(
    ws: web.WebSocketResponse,
    transport: asyncio.Transport | None,
    pending: collections.deque[bytes],
) -> int:
    """Send the queued frames; how many. Many frames go in one write (no compression is
    offered, so a text frame is a header and the bytes): one write per frame would make the
    fake's sender, not the client, what a fast client's rate measures."""
    sent = 0
    if transport is None:
        while pending:
            await ws.send_frame(pending.popleft(), WSMsgType.TEXT)
            sent += 1
        return sent
    while pending:
        if transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        batch = [text_frame(pending.popleft()) for _ in range(min(WRITE_BATCH, len(pending)))]
        transport.write(b"".join(batch))
        sent += len(batch)
        # The client's pace: what it has not taken stays queued here, where the slow
        # consumer's cut counts it.
        while transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            if transport.is_closing():
                raise ConnectionResetError("Cannot write to closing transport")
            await asyncio.sleep(0.001)
    return sent
