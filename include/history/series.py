"""The 1-minute series a REST backfill loads: a market's trade klines and, on futures, the
mark-price, index-price and premium-index klines (DESIGN.md "Futures markets").

A series knows its endpoint, its table and how its rows go into the table; the backfill's paging,
concurrency and resume are the same for every series (include/history/backfill.py).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from include.history import klines_store
from include.platform.markets import SPOT, Market
from include.sql import load_sql

PRICE_COLUMNS = ("open_time_ms", "open", "high", "low", "close", "sample_count")
_COPY_PRICE_STAGE = sql.SQL("copy pg_temp.stage_price_klines ({}) from stdin (format csv)").format(
    sql.SQL(", ").join(map(sql.Identifier, PRICE_COLUMNS))
)


@dataclass(frozen=True)
class Series:
    """One kind of 1-minute kline: where Binance serves it and where the platform keeps it."""

    name: str
    # The REST endpoint under the market's prefix.
    endpoint: str
    # The table in the market's raw schema.
    table: str

    def identifier(self, market: Market) -> sql.Identifier:
        return sql.Identifier(market.raw_schema, self.table)

    def csv(self, rows: Sequence[Sequence]) -> bytes:
        """Answer rows as the CSV ``upsert`` stages."""
        if self.name == "klines":
            return klines_store.rest_klines_csv(rows)
        buffer = io.StringIO()
        for r in rows:
            prices = ",".join(klines_store._dec(v) for v in r[1:5])
            buffer.write(f"{int(r[0])},{prices},{int(r[8])}\n")
        return buffer.getvalue().encode()

    def upsert(
        self,
        conn: psycopg.Connection,
        symbol: str,
        csv: bytes,
        market: Market = SPOT,
        source: str = "rest",
    ) -> int:
        """Stage and upsert CSV rows inside the caller's transaction; the rows new or changed."""
        if self.name == "klines":
            return klines_store.upsert_csv(conn, symbol, csv, source, market)
        if not csv:
            return 0
        table = self.identifier(market)
        conn.execute(load_sql("create_stage_price_klines"))
        conn.execute("truncate pg_temp.stage_price_klines")
        with conn.cursor() as cur:
            with cur.copy(_COPY_PRICE_STAGE) as copy:
                copy.write(csv)
            klines_store.ensure_staged_months(cur, market.table(self.table), "stage_price_klines")
            cur.execute(
                sql.SQL(load_sql("upsert_price_klines_1m")).format(table=table),
                {"symbol": symbol, "source": source},
            )
            return cur.rowcount


KLINES = Series("klines", "klines", "klines_1m")
MARK = Series("mark", "markPriceKlines", "mark_price_klines_1m")
INDEX = Series("index", "indexPriceKlines", "index_price_klines_1m")
PREMIUM = Series("premium", "premiumIndexKlines", "premium_index_klines_1m")
SERIES = {s.name: s for s in (KLINES, MARK, INDEX, PREMIUM)}
# What `--series all` loads: every series, and the funding history (futures only).
FUNDING = "funding"
FUTURES_ONLY = ("mark", "index", "premium", FUNDING)
ALL = (*SERIES, FUNDING)


def parse_series(names: Sequence[str] | str | None, market: Market) -> tuple[str, ...]:
    """The series asked for ("klines,mark", ["all"]): known names, each once. None asked: a
    spot market's klines, and everything of a futures market (its users need the mark and
    index candles and the funding beside the trade candles: freqtrade's futures mode reads all
    of them). A futures-only series asked of spot is a one-line error."""
    if isinstance(names, str):
        names = [names]
    wanted = [n.strip().lower() for part in names or () for n in part.split(",") if n.strip()]
    if not wanted:
        return ALL if market.is_futures else ("klines",)
    if "all" in wanted:
        return ALL if market.is_futures else ("klines",)
    for name in wanted:
        if name not in ALL:
            raise ValueError(f"series {name!r} is not one of all, {', '.join(ALL)}")
        if name in FUTURES_ONLY and not market.is_futures:
            raise ValueError(f"series {name!r} exists on futures markets only (--market usdm)")
    return tuple(dict.fromkeys(wanted))
