"""`python -m api`: serve HTTP + WebSocket (uvicorn) and gRPC until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import psycopg
import uvicorn

from api.app import create_app
from api.config import ApiConfig, load_config
from api.grpc_service import start_grpc
from include.platform.settings import COMMON_ENVIRONMENT, environment_help, load_env_file

logger = logging.getLogger(__name__)

# The API's own settings, listed by --help (api/README.md says more about each).
ENVIRONMENT = (
    COMMON_ENVIRONMENT[0],
    (
        "API_DATABASE_URL",
        "DATABASE_URL's as analytics_reader",
        "the URL (and role) the API reads as",
    ),
    (
        "API_DATABASE_PASSWORD",
        "DATA_DIR/secrets/analytics_reader.password",
        "analytics_reader's password",
    ),
    ("API_HOST", "127.0.0.1", "bind address of HTTP, WebSocket and gRPC"),
    ("API_PORT", "8000", "HTTP and WebSocket port"),
    ("API_GRPC_PORT", "8001", "gRPC port"),
    ("API_TOKENS", "", "space- or comma-separated; required when API_HOST is not loopback"),
    ("API_POOL_SIZE", "4", "database connections for queries"),
    *COMMON_ENVIRONMENT[5:],
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: no options but --help, the settings come from the environment."""
    parser = argparse.ArgumentParser(
        prog="python -m api",
        description="The read side: Binance-compatible REST and WebSocket, the TradingView UDF "
        "datafeed, gRPC and the live chart, until SIGTERM/SIGINT.",
        epilog=environment_help(ENVIRONMENT),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser.parse_args(argv)


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
        )
    )
    api = app.state.api
    grpc_server, grpc_port = await start_grpc(api.hub, api.symbols, config, config.grpc_port)
    print(
        f"api: http://{config.host}:{config.port}/ (chart), "
        f"ws://{config.host}:{config.port}/ws, gRPC {config.host}:{grpc_port}",
        flush=True,
    )
    try:
        await server.serve()
    finally:
        await grpc_server.stop(2)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; a configuration error is one line on stderr and exit status 2."""
    parse_args(argv)
    load_env_file()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config()
        return asyncio.run(serve(config))
    except (ValueError, RuntimeError, OSError, psycopg.Error) as exc:
        text = str(exc).strip()
        print(f"api: {text.splitlines()[0] if text else type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
