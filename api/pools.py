"""The API's database connection pools: each door's own, so none can starve another."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api.config import ApiConfig


def make_pool(
    config: ApiConfig,
    *options: str,
    prepare_at_once: bool = False,
    configure: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> AsyncConnectionPool:
    """Connections for the handlers' queries, opened by the app's lifespan.

    ``prepare_at_once``: a statement is prepared on its first run on a connection, not its
    sixth (psycopg's default threshold); the klines statements' plans over every monthly
    partition cost 5-40 ms to make, which each of the first five requests paid again.
    ``configure`` runs on each new connection before it serves (the symbol lists' warm-up)."""
    # No query of a client's may hold a connection for long (the listener's LISTEN connection
    # is its own and waits on notifications, not on a statement).
    timeout = f"-c statement_timeout={int(config.statement_timeout * 1000)}"
    return AsyncConnectionPool(
        config.database_url,
        min_size=1,
        max_size=config.pool_size,
        # Past the wait a request gets Binance's -1008 (overloaded), not a 500.
        timeout=config.pool_wait,
        kwargs={
            "autocommit": True,
            "application_name": "api",
            "options": " ".join((timeout, *options)),
            **({"prepare_threshold": 0} if prepare_at_once else {}),
        },
        configure=configure,
        open=False,
    )
