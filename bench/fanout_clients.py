"""Fan-out clients in a process of their own (bench/api_bench.py starts several per run).

Usage: fanout_clients.py URL COUNT FIRST EVENTS [STREAM]. Opens COUNT WebSocket clients to URL
(client FIRST + i from the loopback address source() gives it), SUBSCRIBEs each to STREAM when
given, prints "ready", then records when each client receives each event (its number is the
close price's whole part less 1000) until every client has the last one or was closed, prints
the receipts as JSON (per client {event: time}, null for a client the server closed), and closes
its clients once a line arrives on stdin.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time

import orjson
import websockets

# Clients per source address: under the API's default caps of one address (300 WebSockets
# open, 300 handshakes in 5 minutes), as many users' clients would be.
PER_ADDRESS = 250
# The event's number, from its close price (the whole message is not parsed: the clients'
# own cost would hide the servers').
CLOSE = re.compile(rb'"c":"(\d+)\.')


def source(i: int) -> tuple[str, int]:
    """The loopback address client ``i`` connects from (127.1.0.1, 127.1.0.2, ...): the
    bench numbers its clients across rounds, so a round's clients are new users, under the
    handshakes an address may make in 5 minutes whatever came before."""
    k = i // PER_ADDRESS
    return (f"127.1.{k // 250}.{1 + k % 250}", 0)


async def connect(url: str, count: int, first: int, stream: str | None) -> list:
    conns = []
    for i in range(first, first + count, 100):
        conns.extend(
            await asyncio.gather(
                *(
                    websockets.connect(url, max_queue=None, local_addr=source(j))
                    for j in range(i, min(i + 100, first + count))
                )
            )
        )
    if stream:
        for j, ws in enumerate(conns):
            await ws.send(
                orjson.dumps({"method": "SUBSCRIBE", "params": [stream], "id": j}).decode()
            )
        for ws in conns:
            await ws.recv()
    return conns


async def collect(conns: list, events: int) -> list[dict[int, float] | None]:
    """Per client: event number -> receipt time, until the last event arrives. The push
    coalesces the commits of one turn into the newest state, so a busy fan-out skips events
    (a client gets the last one); a client the server closed (too slow to keep up) is None."""

    async def one(ws) -> dict[int, float] | None:
        got: dict[int, float] = {}
        try:
            while events - 1 not in got:
                msg = await ws.recv(decode=False)
                got[int(CLOSE.search(msg)[1]) - 1000] = time.time()
        except websockets.ConnectionClosed:
            return None
        return got

    return await asyncio.gather(*(one(ws) for ws in conns))


async def main(url: str, count: int, first: int, events: int, stream: str | None) -> None:
    conns = await connect(url, count, first, stream)
    print("ready", flush=True)
    received = await asyncio.wait_for(collect(conns, events), 120)
    print(orjson.dumps(received, option=orjson.OPT_NON_STR_KEYS).decode(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.gather(*(ws.close() for ws in conns))


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(args[0], int(args[1]), int(args[2]), int(args[3]), args[4] if len(args) > 4 else None)
    )
