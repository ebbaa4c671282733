"""`python -m streamer`: run the live sidecar until SIGTERM/SIGINT, then flush and exit 0."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time

import orjson
import psycopg

from include.migrate import MigrationError, migrate
from streamer.app import Streamer
from streamer.config import StreamerConfig, load_config
from streamer.loop import loop_factory, loop_name

logger = logging.getLogger(__name__)


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ``extra=`` context fields
    (symbol, gap, attempt, error...) and the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as one JSON line."""
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging() -> None:
    """Structured logs on stderr; STREAMER_LOG_LEVEL picks the level."""
    import os

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("STREAMER_LOG_LEVEL", "INFO").upper())


async def amain(config: StreamerConfig) -> int:
    """Run the streamer under SIGTERM/SIGINT handlers."""
    streamer = Streamer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    logger.info("event loop: %s", loop_name(loop))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await streamer.run(stop)


def main() -> int:
    """Entry point; a configuration error is one line on stderr and exit status 2."""
    configure_logging()
    try:
        config = load_config()
        # Idempotent and locked: a fresh database gets its tables before the first write.
        migrate(config.database_url)
        with asyncio.Runner(loop_factory=loop_factory(config.event_loop)) as runner:
            return runner.run(amain(config))
    except (ValueError, RuntimeError, MigrationError, OSError, psycopg.Error) as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        print(f"streamer: {reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
