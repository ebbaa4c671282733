"""`python -m streamer`: run the live sidecar until SIGTERM/SIGINT, then flush and exit 0."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time

import orjson
import psycopg

from include.platform import db
from include.platform.markets import MARKET_VARIABLES
from include.platform.markets import market as market_named
from include.platform.migrate import MigrationError, migrate
from include.platform.settings import (
    DESIGN_VARIABLES,
    Settings,
    first_line,
    get_settings,
    parse_command_line,
    variables,
)
from streamer.app import Streamer
from streamer.config import StreamerConfig, load_config
from streamer.loop import loop_factory, loop_name

logger = logging.getLogger(__name__)

# What --help lists, generated from the settings model (streamer/README.md says more on each).
ENVIRONMENT = (
    *DESIGN_VARIABLES,
    *MARKET_VARIABLES,
    *variables("STREAMER_"),
    *variables("SECOND_CANDLE_"),
    "LIVE_RETENTION_DAYS",
)


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


def configure_logging(settings: Settings) -> None:
    """Structured logs on stderr; STREAMER_LOG_LEVEL picks the level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.streamer_log_level.upper())
    # httpx logs every request at INFO: one line per repair page would bury the repairs' own.
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def amain(*configs: StreamerConfig) -> int:
    """Run one streamer per market under SIGTERM/SIGINT handlers; the worst exit status.

    The markets share the process and its loop, nothing else: each has its connections, its
    REST client in its market's IP pool, its writer and its health server.
    """
    streamers = [Streamer(config) for config in configs]
    streamers[0].peers = streamers[1:]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    logger.info("event loop: %s", loop_name(loop))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    statuses = await asyncio.gather(*(s.run(stop) for s in streamers))
    return max(statuses)


def main(argv: list[str] | None = None) -> int:
    """Entry point; a configuration error is one line on stderr and exit status 2."""
    parse_command_line(
        "python -m streamer",
        "The live sidecar: Binance trades to market.candles_1m_live (and each futures market "
        "of MARKETS to its own schema's), one row per symbol and minute, until SIGTERM/SIGINT "
        "(then it flushes and exits 0).",
        ENVIRONMENT,
        argv,
    )
    try:
        # The environment and .env, every STREAMER_* knob checked before anything connects.
        settings = get_settings()
        configure_logging(settings)
        markets = [market_named(name) for name in settings.markets]
        configs = [load_config(settings, database_url="", market=m) for m in markets]
        if settings.streamer_migrate:
            # Idempotent and locked, as the administrator: a fresh database gets its tables, and
            # the roles their passwords, before the first write.
            migrate(db.resolve_database_url(settings), settings=settings)
        # The streamer itself writes as streamer_writer (DESIGN.md "Database roles").
        url = db.resolve_role_url(db.STREAMER, settings)
        configs = [config.with_(database_url=url) for config in configs]
        with asyncio.Runner(loop_factory=loop_factory(configs[0].event_loop)) as runner:
            return runner.run(amain(*configs))
    except (ValueError, RuntimeError, MigrationError, OSError, psycopg.Error) as exc:
        print(f"streamer: {first_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
