"""What a REST batch job (backfill, heal, reconcile, bootstrap) runs with, resolved once: its
market, its role's database URL and its Binance client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from include.platform import db
from include.platform.binance_rest.client import BinanceRest
from include.platform.markets import SPOT, Market, market


@dataclass(frozen=True)
class Job:
    """One job's market, database URL (history_loader's unless given) and REST client."""

    market: Market
    database_url: str
    client: BinanceRest


@contextlib.contextmanager
def rest_job(
    *,
    database_url: str | None = None,
    rest_url: str | None = None,
    client: BinanceRest | None = None,
    market_name: str | Market = SPOT,
) -> Iterator[Job]:
    """The job's context: the caller's client as it is (its market the job's), or one of the
    job's own of ``market_name``, closed after it, whose requests' weight is reserved in the
    budget every process shares through the database URL."""
    venue = market(client.market if client is not None else market_name)
    url = database_url or db.resolve_role_url(db.LOADER)
    if client is not None:
        yield Job(venue, url, client)
        return
    with BinanceRest(rest_url, database_url=url, market=venue) as own:
        yield Job(venue, url, own)
