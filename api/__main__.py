"""`python -m api`: serve HTTP + WebSocket (uvicorn) and gRPC until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import resource
import sys

import psycopg
import uvicorn

from api.app import create_app
from api.config import ApiConfig, load_config
from api.grpc_service import start_grpc
from api.guard import server_config
from include.platform.settings import first_line, parse_command_line, variables

logger = logging.getLogger(__name__)

# What --help lists, generated from the settings model (api/README.md says more on each).
ENVIRONMENT = (
    "DATABASE_URL",
    *variables("API_"),
    "SECOND_CANDLE_SYMBOLS",
    "MARKETS",
    "DATA_DIR",
    "EMBEDDED_PG_PORT",
)


# Descriptors beyond the connections: pools, the listener, gRPC, logs, the interpreter's own.
SPARE_FILES = 64


def ensure_file_limit(config: ApiConfig) -> None:
    """Raise the open-file limit to what API_MAX_CONNECTIONS needs, up to the hard limit; refuse
    to start when even that is too low (past it every accept fails, for every client)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    pools = 5 * config.pool_size
    needed = config.max_connections + pools + config.grpc_max_rpcs + SPARE_FILES
    if config.max_connections <= 0 or needed <= soft:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ValueError(
            f"API_MAX_CONNECTIONS={config.max_connections} needs about {needed} open files, "
            f"this process may open {hard} (ulimit -n): lower API_MAX_CONNECTIONS or raise it"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def serve(config: ApiConfig) -> int:
    """Run uvicorn and the gRPC server in one loop; uvicorn owns the signal handlers."""
    app = create_app(config)
    server = uvicorn.Server(
        server_config(app, config, log_level="warning", access_log=False, ws_max_size=1 << 16)
    )
    grpc_server, grpc_port = await start_grpc(app.state.api, config, config.grpc_port)
    http, ws = ("https", "wss") if config.tls else ("http", "ws")
    print(
        f"api: {http}://{config.host}:{config.port}/ (chart), "
        f"{ws}://{config.host}:{config.port}/ws, gRPC{' (TLS)' if config.tls else ''} "
        f"{config.host}:{grpc_port}",
        flush=True,
    )
    try:
        await server.serve()
    finally:
        await grpc_server.stop(2)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; a configuration error is one line on stderr and exit status 2."""
    parse_command_line(
        "python -m api",
        "The read side: Binance-compatible REST and WebSocket, the TradingView UDF datafeed, "
        "gRPC and the live chart, until SIGTERM/SIGINT.",
        ENVIRONMENT,
        argv,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(start=True)
        ensure_file_limit(config)
        return asyncio.run(serve(config))
    except (ValueError, RuntimeError, OSError, psycopg.Error) as exc:
        print(f"api: {first_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
