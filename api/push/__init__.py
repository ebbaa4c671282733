"""Live push: LISTEN on candles_1m, turn changed minutes into candle events, fan them out.

One listener connection per process (listener.py) receives every committed change to a 1m
candle (the triggers of migration 0006). A notification is only a hint of which (symbol,
minute) keys changed: NOTIFY needs no privilege, so any login could send one, and nothing of
its payload but the keys is used. The hub (hub.py) queues them; its worker (worker.py) reads
the named minutes back from the tables in one query per turn (1m events, and whether each minute
is closed), and the candles of longer intervals through the same query as /api/v3/klines,
coalesced per (symbol, interval, candle), so a busy feed costs one query per candle per turn,
not per minute. The hub fans out one neutral candle event (event.py); each face encodes it in
its own form once per stream (the WebSocket's Binance frames in api/ws.py, gRPC's Candle
messages in api/grpc_service.py). A WebSocket client with nothing queued gets its frame
written to its connection there and then (api/wire.py), as websockets.broadcast does; one
whose connection is full has it queued, and is cut off past max_queued_frames (10,000). A
candle is pushed closed (`x`) only when the database holds it closed: its last minute
official, or closed by the streamer.

Any login can send on the channel, as often as it likes, so a notification is bounded before
anything is queued (queue.py): at most MAX_ITEMS keys, each within [its symbol's first day,
now + 1 day] (a key the tables' timestamps cannot hold would fail the read), and the keys near
now on a queue of their own, read in full every turn, before a slice of the older ones. And as
the listener reads them in the order they were sent, a notification from a login that writes
no market table (its backend's role looked up once, senders.py) is only set aside, read a few
per turn: a flood of them stands in front of none of the triggers' own. The
runs a dbt build rebuilt are read from market.rebuilt_runs, which only dbt_builder writes,
never from a payload. A turn whose read fails handles its candles one by one, so one bad item
holds up no other, and drops an item that failed twice; /healthz reports the worker failing
(``pushing``).
"""

from api.push.hub import CHANNEL, Hub, Subscriber
from api.push.listener import listen
from api.push.worker import Worker

__all__ = ["CHANNEL", "Hub", "Subscriber", "Worker", "listen"]
