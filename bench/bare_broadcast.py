"""The fan-out baseline: a plain `websockets` server broadcasting kline frames, in its own process.

Usage (by bench/api_bench.py): bare_broadcast.py SUBSCRIBERS EVENTS GAP. Prints its port, waits
for SUBSCRIBERS connections, broadcasts EVENTS frames GAP seconds apart, prints {"sent": {event:
send time}, "took": [each broadcast's seconds]} as JSON and exits once every client has gone.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
import websockets

SYMBOL = "SYM0001USDT"
# The minute the API bench's commits change (its live forming minute).
OPEN_MS = 1735689600000 + 36 * 60_000


def kline(e: int, event_ms: int) -> dict:
    """The kline event the API pushes for the bench's commit ``e``: the same fields and
    values, so both servers frame and compress the same bytes."""
    return {
        "e": "kline",
        "E": event_ms,
        "s": SYMBOL,
        "k": {
            "t": OPEN_MS,
            "T": OPEN_MS + 59_999,
            "s": SYMBOL,
            "i": "1m",
            "f": -1,
            "L": -1,
            "o": "100.00000000",
            "c": f"{1000 + e}.00000000",
            "h": "101.00000000",
            "l": "99.00000000",
            "v": "1.00000000",
            "n": 1,
            "x": False,
            "q": "100.00000000",
            "V": "0.50000000",
            "Q": "50.00000000",
            "B": "0",
        },
    }


async def main(n: int, events: int, gap: float) -> None:
    subscribers: set = set()
    gone = asyncio.Event()

    async def handler(ws) -> None:
        subscribers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            subscribers.discard(ws)
            if not subscribers:
                gone.set()

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        async with asyncio.timeout(60):
            while len(subscribers) < n:  # noqa: ASYNC110 (handlers register as they run)
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        sent: dict[int, float] = {}
        took: list[float] = []
        for e in range(events):
            sent[e] = time.time()
            started = time.perf_counter()
            event = kline(e, int(sent[e] * 1000))
            websockets.broadcast(subscribers, orjson.dumps(event).decode())
            took.append(time.perf_counter() - started)
            await asyncio.sleep(gap)
        report = {"sent": {str(e): t for e, t in sent.items()}, "took": took}
        print(orjson.dumps(report).decode(), flush=True)
        async with asyncio.timeout(120):
            await gone.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
