"""`python -m api`: serve HTTP + WebSocket (uvicorn) and gRPC until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

import psycopg
import uvicorn

from api.app import create_app
from api.config import ApiConfig, load_config
from api.grpc_service import start_grpc
from include.platform.settings import first_line, parse_command_line, variables

logger = logging.getLogger(__name__)

# What --help lists, generated from the settings model (api/README.md says more on each).
ENVIRONMENT = (
    "DATABASE_URL",
    *variables("API_"),
    "SECOND_CANDLE_SYMBOLS",
    "DATA_DIR",
    "EMBEDDED_PG_PORT",
)


async def serve(config: ApiConfig) -> int:
    """Run uvicorn and the gRPC server in one loop; uvicorn owns the signal handlers."""
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level="warning",
            access_log=False,
            ws_max_size=1 << 16,
            lifespan="on",
            ssl_certfile=config.tls_cert,
            ssl_keyfile=config.tls_key,
        )
    )
    api = app.state.api
    grpc_server, grpc_port = await start_grpc(
        api.hub, api.symbols, config, config.grpc_port, api.klines_pool
    )
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
        config = load_config()
        return asyncio.run(serve(config))
    except (ValueError, RuntimeError, OSError, psycopg.Error) as exc:
        print(f"api: {first_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
