"""`python -m streamer`: run the live sidecar until SIGTERM/SIGINT, then flush and exit 0."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time

import orjson
import psycopg

from include import db
from include.migrate import MigrationError, migrate
from include.settings import COMMON_ENVIRONMENT, environment_help, get_settings, load_env_file
from streamer.app import Streamer
from streamer.config import StreamerConfig, _env_bool, load_config
from streamer.loop import loop_factory, loop_name

logger = logging.getLogger(__name__)

# The streamer's own knobs, listed by --help (streamer/README.md says more about each).
ENVIRONMENT = (
    *COMMON_ENVIRONMENT,
    (
        "STREAMER_DATABASE_URL",
        "DATABASE_URL's as streamer_writer",
        "the URL the streamer writes as",
    ),
    (
        "STREAMER_DATABASE_PASSWORD",
        "DATA_DIR/secrets/streamer_writer.password",
        "streamer_writer's password",
    ),
    ("STREAMER_MIGRATE", "true", "migrate as DATABASE_URL's administrator before starting"),
    ("STREAMER_STREAM", "trade", "trade or aggTrade"),
    ("STREAMER_FLUSH_INTERVAL", "0.1", "seconds between writes of the forming candles"),
    ("STREAMER_MAX_BATCH_ROWS", "5000", "rows per transaction"),
    ("STREAMER_CLOSE_GRACE", "2", "seconds after a minute ends before a quiet symbol is probed"),
    ("STREAMER_CLOCK_SYNC_INTERVAL", "60", "seconds between measurements of Binance's clock"),
    ("STREAMER_HEALTH_HOST", "127.0.0.1", "address of /healthz and /metrics"),
    ("STREAMER_HEALTH_PORT", "8795 (+ k with STREAMER_SHARD)", "port of /healthz and /metrics"),
    ("STREAMER_STREAMS_PER_CONNECTION", "1024", "streams per WebSocket connection"),
    ("STREAMER_BACKOFF_INITIAL", "0.5", "first reconnect delay, seconds"),
    ("STREAMER_BACKOFF_MAX", "30", "longest reconnect delay, seconds"),
    ("STREAMER_SILENCE_TIMEOUT", "10", "drop a socket silent this many seconds"),
    ("STREAMER_LIVENESS_INTERVAL", "1", "seconds between our own pings"),
    ("STREAMER_ROTATE_AFTER", "84600", "replace a connection before Binance's 24 h cut"),
    ("STREAMER_SYMBOLS_REFRESH", "60", "seconds between exchangeInfo reads (listings)"),
    ("STREAMER_REPAIR_MAX_TRADES", "100000", "larger gaps are left to heal-gaps"),
    ("STREAMER_REPAIR_DEADLINE", "300", "seconds a gap repair keeps retrying"),
    ("STREAMER_STARTUP_REPAIR", "true", "fetch each symbol's first minute from REST"),
    ("STREAMER_LOOP", "auto", "auto (uvloop when importable), uvloop or asyncio"),
    ("STREAMER_SHARD", "", "k/n: stream only the symbols that hash to shard k of n"),
    ("STREAMER_LOG_LEVEL", "INFO", "log level (JSON lines on stderr)"),
    ("LIVE_RETENTION_DAYS", "", "at start, drop live months ended longer ago (unset: keep all)"),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: no options but --help, the settings come from the environment."""
    parser = argparse.ArgumentParser(
        prog="python -m streamer",
        description="The live sidecar: Binance trades to market.candles_1m_live, one row per "
        "symbol and minute, until SIGTERM/SIGINT (then it flushes and exits 0).",
        epilog=environment_help(ENVIRONMENT),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser.parse_args(argv)


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
    # httpx logs every request at INFO: one line per repair page would bury the repairs' own.
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def amain(config: StreamerConfig) -> int:
    """Run the streamer under SIGTERM/SIGINT handlers."""
    streamer = Streamer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    logger.info("event loop: %s", loop_name(loop))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await streamer.run(stop)


def main(argv: list[str] | None = None) -> int:
    """Entry point; a configuration error is one line on stderr and exit status 2."""
    parse_args(argv)
    load_env_file()
    configure_logging()
    try:
        settings = get_settings()
        # The STREAMER_* knobs are checked before anything connects.
        config = load_config(settings, database_url="")
        if _env_bool("STREAMER_MIGRATE", True):
            # Idempotent and locked, as the administrator: a fresh database gets its tables, and
            # the roles their passwords, before the first write.
            migrate(db.resolve_database_url(settings), settings=settings)
        # The streamer itself writes as streamer_writer (DESIGN.md "Database roles").
        config = config.with_(database_url=db.resolve_role_url(db.STREAMER, settings))
        with asyncio.Runner(loop_factory=loop_factory(config.event_loop)) as runner:
            return runner.run(amain(config))
    except (ValueError, RuntimeError, MigrationError, OSError, psycopg.Error) as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        print(f"streamer: {reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
