"""NOTIFYs on the live push's channel as analytics_reader: the attacks of tests/security/
test_push_notify.py, shared with scripts/security_probe.py (which tries them on a running
platform)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import orjson
import psycopg

from api.symbols import EARLIEST_MS
from include.platform import db

# Minutes no timestamp of the tables holds, or that no candle can have yet.
FAR_FUTURE_MS = 300_000_000_000_000_000
DECEMBER_9999_MS = int(datetime(9999, 12, 1, tzinfo=UTC).timestamp() * 1000)
# The read API's own role sends as fast as one connection can: 280 keys a notification (about
# all a NOTIFY payload's 8,000 bytes hold), each a different hour of a symbol's history.
TRICKLE_KEYS = 280
HOUR_MS = 3_600_000


def out_of_range_keys(symbol: str, at_ms: int) -> list[dict]:
    """Notifications naming keys the tables cannot hold: 3e17 ms, December 9999 (a 1M
    subscriber's month), a seconds key, a negative minute, a rebuilt run from 3e17."""
    return [
        {"at": at_ms, "rows": [[symbol, FAR_FUTURE_MS]]},
        {"at": at_ms, "rows": [[symbol, DECEMBER_9999_MS]]},
        {"at": at_ms, "seconds": [[symbol, FAR_FUTURE_MS]]},
        {"at": at_ms, "rows": [[symbol, -FAR_FUTURE_MS]]},
        {"at": at_ms, "rebuilt": [[symbol, FAR_FUTURE_MS, FAR_FUTURE_MS + 60_000]]},
    ]


def notify_as_reader(database_url: str, *messages: dict) -> None:
    """Send each message on the API's channel as analytics_reader (database_url: the
    administrator's, whose server and database the role's URL is derived from)."""
    with psycopg.connect(db.role_url(database_url, db.READER), autocommit=True) as attacker:
        for message in messages:
            payload = orjson.dumps(message).decode()
            attacker.execute("select pg_notify('candles_1m', %s)", (payload,))


def trickle_as_reader(
    database_url: str,
    stop: threading.Event,
    sent: list[int],
    symbol: str = "BTCUSDT",
    span: tuple[int, int] | None = None,
) -> None:
    """Until ``stop``: notifications of old, valid, never-repeated keys, one after another.
    With ``span`` (first, end ms), the keys start over at first once they reach end, so every
    one stays in the range the push reads however long the trickle runs."""
    start = span[0] if span else EARLIEST_MS
    with psycopg.connect(db.role_url(database_url, db.READER), autocommit=True) as attacker:
        while not stop.is_set():
            if span and start + TRICKLE_KEYS * HOUR_MS > span[1]:
                start = span[0]
            rows = [[symbol, start + i * HOUR_MS] for i in range(TRICKLE_KEYS)]
            start += TRICKLE_KEYS * HOUR_MS
            payload = orjson.dumps({"at": 0, "rows": rows}).decode()
            attacker.execute("select pg_notify('candles_1m', %s)", (payload,))
            sent[0] += 1
