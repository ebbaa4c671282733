"""Whether dbt has built the marts yet, per database: before its first build every candle is
rolled up from the minutes."""

from __future__ import annotations

import time
from typing import ClassVar

from psycopg import AsyncConnection

from api.klines.statements import PG_INTERVAL
from include.platform.markets import SPOT, Market

MART_NAMES = tuple(f"analytics.candles_{i}" for i in PG_INTERVAL)
MARTS_SQL = "select bool_and(to_regclass(name) is not null) from unnest(%s::text[]) as name"


class Marts:
    """Per database: has dbt built the marts yet? Re-checked every few seconds until it has."""

    ready: ClassVar[dict[tuple, bool]] = {}
    checked_at: ClassVar[dict[tuple, float]] = {}

    @staticmethod
    def key(conn: AsyncConnection, market: Market = SPOT) -> tuple:
        info = conn.info
        key = (info.host, info.port, info.dbname)
        return key if market is SPOT else (*key, market.name)

    @classmethod
    async def available(cls, conn: AsyncConnection, market: Market = SPOT) -> bool:
        """Whether the market's marts exist (spot's analytics, a futures market's own)."""
        key = cls.key(conn, market)
        if cls.ready.get(key) or time.monotonic() - cls.checked_at.get(key, -1e9) < 2.0:
            return cls.ready.get(key, False)
        names = [market.served_text(name) for name in MART_NAMES]
        cur = await conn.execute(MARTS_SQL, (names,))
        row = await cur.fetchone()
        cls.ready[key] = bool(row and row[0])
        cls.checked_at[key] = time.monotonic()
        return cls.ready[key]

    @classmethod
    def forget(cls, conn: AsyncConnection, market: Market = SPOT) -> None:
        cls.ready.pop(cls.key(conn, market), None)
        cls.checked_at.pop(cls.key(conn, market), None)
