"""The API on a free port in the test's loop; live candles written the way the streamer does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
import uvicorn
from psycopg.conninfo import make_conninfo

from api.app import create_app
from api.config import ApiConfig, load_config
from api.grpc_service import start_grpc
from api.guard import server_config


@dataclass
class RunningApi:
    """A started API: its base URLs and the app state."""

    http: str
    ws: str
    grpc_target: str
    api: object


@contextlib.asynccontextmanager
async def running_api(config: ApiConfig) -> AsyncIterator[RunningApi]:
    """Serve ``config`` (port 0 = any free port) in this loop until the block ends."""
    app = create_app(config)
    server = uvicorn.Server(server_config(app, config, log_level="warning"))
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    api = app.state.api
    grpc_server, grpc_port = await start_grpc(api, config, 0)
    http, ws = ("https", "wss") if config.tls else ("http", "ws")
    try:
        yield RunningApi(
            f"{http}://127.0.0.1:{port}", f"{ws}://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}", api
        )
    finally:
        await grpc_server.stop(0)
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def futures_api_config(market: str, symbol: str) -> ApiConfig:
    """The API's config (any free port) serving spot and ``market``, whose one contract is
    ``symbol``, over the database load_config resolves."""
    return ApiConfig(
        database_url=load_config().database_url,
        port=0,
        markets=("spot", market),
        futures_symbols={market: frozenset({symbol})},
    )


LIVE_COLUMNS = (
    "symbol, open_time, open, high, low, close, volume, quote_volume, trade_count, "
    "taker_buy_volume, taker_buy_quote_volume, is_closed"
)


def write_live(
    conn: psycopg.Connection,
    symbol: str,
    open_time: datetime,
    values: Sequence,
    is_closed: bool,
    schema: str = "market",
) -> None:
    """Upsert one live candle the way the streamer does (into ``schema``'s live table)."""
    conn.execute(
        f"insert into {schema}.candles_1m_live ({LIVE_COLUMNS}) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "on conflict (symbol, open_time) do update set open = excluded.open, "
        "high = excluded.high, low = excluded.low, close = excluded.close, "
        "volume = excluded.volume, quote_volume = excluded.quote_volume, "
        "trade_count = excluded.trade_count, taker_buy_volume = excluded.taker_buy_volume, "
        "taker_buy_quote_volume = excluded.taker_buy_quote_volume, "
        "is_closed = excluded.is_closed, updated_at = now()",
        (symbol, open_time, *values, is_closed),
    )


@contextlib.asynccontextmanager
async def listener_lost(database_url: str, conn: psycopg.Connection, hub) -> AsyncIterator[None]:
    """For the block: the API's listener connection killed (seen lost by ``hub``) and the
    database refusing new connections, as during a database restart."""
    refuse = f'alter database "{conn.info.dbname}" with allow_connections '
    with psycopg.connect(make_conninfo(database_url, dbname="postgres"), autocommit=True) as admin:
        admin.execute(refuse + "false")
        try:
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where application_name = 'api-listener' and datname = current_database()"
            )
            for _ in range(200):
                if not hub.listening.is_set():
                    break
                await asyncio.sleep(0.05)
            assert not hub.listening.is_set()
            yield
        finally:
            admin.execute(refuse + "true")
