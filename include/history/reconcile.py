"""Reconciliation: analytics.candles_1m against Binance's official klines, then repair."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import psycopg

from include import timeframes
from include.history import klines_store
from include.history.job import rest_job
from include.history.results import Mismatch, ReconcileResult
from include.platform.binance_rest.client import JOB_EXCHANGE_INFO_AGE_S, BinanceRest
from include.platform.markets import SPOT, Market
from include.platform.symbols import resolve_symbols
from include.platform.times import MINUTE_MS, to_datetime, to_ms
from include.sql import load_sql

logger = logging.getLogger(__name__)

# The candle columns of DESIGN.md, in Binance's kline order, with their index in a REST row.
FIELDS: tuple[tuple[str, int], ...] = (
    ("open", 1),
    ("high", 2),
    ("low", 3),
    ("close", 4),
    ("volume", 5),
    ("quote_volume", 7),
    ("trade_count", 8),
    ("taker_buy_volume", 9),
    ("taker_buy_quote_volume", 10),
)
MISSING, EXTRA = "missing", "extra"


def compare(symbol: str, ours: dict[int, tuple], official: dict[int, Sequence]) -> list[Mismatch]:
    """Every difference between our minutes and the official REST rows, by minute and field.

    Values compare as exact decimals, so '1.50000000' and 1.5 are equal and nothing else is.
    """
    out: list[Mismatch] = []
    for minute in sorted(ours.keys() | official.keys()):
        mine, theirs = ours.get(minute), official.get(minute)
        if mine is None:
            out.append(Mismatch(symbol, minute, MISSING, None, "kline"))
            continue
        if theirs is None:
            out.append(Mismatch(symbol, minute, EXTRA, "candle", None))
            continue
        for (name, index), value in zip(FIELDS, mine, strict=True):
            if Decimal(str(value)) != Decimal(str(theirs[index])):
                out.append(Mismatch(symbol, minute, name, str(value), str(theirs[index])))
    return out


def official_klines(
    client: BinanceRest, symbol: str, start_ms: int, end_ms: int, closed_before_ms: int
) -> dict[int, list]:
    """Binance's closed 1m klines of [start, end), keyed by open time in ms."""
    rows: dict[int, list] = {}
    page = client.market.klines_page * MINUTE_MS
    for cursor in range(start_ms, end_ms, page):
        stop = min(cursor + page, end_ms)
        for row in client.klines_1m(symbol, cursor, stop - 1):
            if cursor <= int(row[0]) < stop and int(row[6]) < closed_before_ms:
                rows[int(row[0])] = row
    return rows


def confirm_absent(
    client: BinanceRest,
    symbol: str,
    conn: psycopg.Connection,
    start_ms: int,
    end_ms: int,
    official: dict[int, list],
    closed_before_ms: int,
) -> None:
    """Ask Binance again for the minutes we hold that its answer lacked, adding what the
    second answer has to ``official``: one answer without a minute is not enough to delete it
    (a partial answer happens); only a minute absent from both is taken as absent."""
    ours = our_candles(conn, symbol, start_ms, end_ms, client.market)
    absent = sorted(set(ours) - set(official))
    runs: list[list[int]] = []
    for minute in absent:
        if runs and minute == runs[-1][1]:
            runs[-1][1] = minute + MINUTE_MS
        else:
            runs.append([minute, minute + MINUTE_MS])
    for first, stop in runs:
        official.update(official_klines(client, symbol, first, stop, closed_before_ms))


def history_start(conn: psycopg.Connection, symbol: str, market: Market = SPOT) -> int | None:
    """The open time (ms) of the symbol's first minute held, official or live (None: none)."""
    firsts = [
        conn.execute(
            f"select open_time from {market.table(table)} where symbol = %s "
            "order by open_time limit 1",
            (symbol,),
        ).fetchone()
        for table in ("klines_1m", "candles_1m_live")
    ]
    held = [to_ms(row[0]) for row in firsts if row is not None]
    return min(held) if held else None


def our_candles(
    conn: psycopg.Connection, symbol: str, start_ms: int, end_ms: int, market: Market = SPOT
) -> dict:
    """analytics.candles_1m (the market's) of [start, end), keyed by open time in ms, fields in
    FIELDS order."""
    columns = ", ".join(name for name, _ in FIELDS)
    rows = conn.execute(
        f"select open_time, {columns} from {market.timeframes_schema}.candles_1m "
        "where symbol = %s and open_time >= %s and open_time < %s",
        (symbol, to_datetime(start_ms), to_datetime(end_ms)),
    )
    return {to_ms(r[0]): tuple(r[1:]) for r in rows}


def repair(
    conn: psycopg.Connection,
    symbol: str,
    mismatches: Sequence[Mismatch],
    official: dict,
    market: Market = SPOT,
) -> tuple[int, int]:
    """Write the official kline of every differing minute; return (repaired, unrepaired).

    An official kline in market.klines_1m beats any live candle in analytics.candles_1m. A
    minute Binance has no kline for is removed from klines_1m; if only the live table holds
    it, it stays listed as unrepaired, since the live table is the streamer's alone.
    """
    minutes = sorted({m.open_ms for m in mismatches})
    rows = [official[m] for m in minutes if m in official]
    klines_store.upsert_rest_klines(conn, symbol, rows, market=market)
    extra = [m for m in minutes if m not in official]
    unrepaired = 0
    for minute in extra:
        at = to_datetime(minute)
        gone = conn.execute(
            market.sql("delete from market.klines_1m where symbol = %s and open_time = %s"),
            (symbol, at),
        ).rowcount
        if gone:
            end = to_datetime(minute + MINUTE_MS)
            timeframes.mark_dirty(conn, symbol, at, end, "reconcile", market)
            klines_store.reopen_heal(conn, symbol, at, market)
        live = conn.execute(
            market.sql("select 1 from market.candles_1m_live where symbol = %s and open_time = %s"),
            (symbol, at),
        ).fetchone()
        unrepaired += live is not None
    return len(minutes) - unrepaired, unrepaired


def record(
    conn: psycopg.Connection,
    symbol: str,
    window: tuple[int, int],
    compared: int,
    mismatches: Sequence[Mismatch],
    repaired: int,
    unrepaired: int,
    *,
    fixed: bool,
    market: Market = SPOT,
) -> None:
    """Upsert the window's outcome and its mismatches (in the market's tables): a rerun
    replaces, never duplicates.

    fixed says the mismatches were repaired (an extra minute only the live table holds is not).
    """
    start, end = to_datetime(window[0]), to_datetime(window[1])
    conn.execute(
        market.sql(load_sql("upsert_reconciliation")),
        (
            symbol,
            start,
            end,
            compared,
            len({m.open_ms for m in mismatches}),
            repaired,
            unrepaired,
        ),
    )
    with conn.cursor() as cur:
        cur.executemany(
            market.sql(load_sql("upsert_reconcile_mismatch")),
            [
                (
                    m.symbol,
                    to_datetime(m.open_ms),
                    m.field,
                    m.ours,
                    m.official,
                    fixed and m.field != EXTRA,
                )
                for m in mismatches
            ],
        )


def reconcile(
    start: datetime,
    end: datetime,
    symbols: Sequence[str] | None = None,
    *,
    database_url: str | None = None,
    rest_url: str | None = None,
    client: BinanceRest | None = None,
    repair_mismatches: bool = True,
    rebuild: bool = True,
    market: str | Market = SPOT,
) -> ReconcileResult:
    """Compare every minute of [start, end) with Binance, repair what differs, rebuild.

    The window ends at the exchange's last closed minute at most, and for each symbol starts
    at its first minute held at the earliest (the minutes before are counted, not compared).
    Each symbol is compared, repaired and recorded in one transaction; the timeframes are
    rebuilt by dbt once at the end when anything was repaired (the DAG leaves that to
    build_timeframes via the Asset).
    """
    start_ms, end_ms = to_ms(start), to_ms(end)
    if start_ms % MINUTE_MS or end_ms % MINUTE_MS or end_ms <= start_ms:
        raise ValueError(f"reconcile needs whole minutes, start < end: {start} .. {end}")
    with rest_job(
        database_url=database_url, rest_url=rest_url, client=client, market_name=market
    ) as job:
        venue, url, client = job.market, job.database_url, job.client
        result = ReconcileResult(market=venue.name)
        info = client.exchange_info(max_age_s=JOB_EXCHANGE_INFO_AGE_S)
        closed_before_ms = int(info["serverTime"])
        end_ms = min(end_ms, closed_before_ms - closed_before_ms % MINUTE_MS)
        names = resolve_symbols(symbols, exchange_info=info, market=venue)
        minutes = f"{venue.timeframes_schema}.candles_1m"
        with psycopg.connect(url, autocommit=True) as conn:
            if conn.execute("select to_regclass(%s)", (minutes,)).fetchone()[0] is None:
                raise RuntimeError(f"{minutes} does not exist: run build-timeframes")
            for symbol in names:
                # From the symbol's first minute held: the weeks before the platform's history
                # of a symbol (the first weekly run after a two-day bootstrap, say) are not
                # differences; at ALL they were 20 M "missing" minutes loaded and listed.
                first = history_start(conn, symbol, venue)
                lo = end_ms if first is None else min(max(start_ms, first), end_ms)
                result.before_history[symbol] = (lo - start_ms) // MINUTE_MS
                if lo >= end_ms:
                    result.compared[symbol] = 0
                    result.repaired[symbol] = result.unrepaired[symbol] = 0
                    logger.info("%s: no minute held before %s, nothing compared", symbol, end)
                    continue
                official = official_klines(client, symbol, lo, end_ms, closed_before_ms)
                confirm_absent(client, symbol, conn, lo, end_ms, official, closed_before_ms)
                with conn.transaction():
                    ours = our_candles(conn, symbol, lo, end_ms, venue)
                    found = compare(symbol, ours, official)
                    repaired = unrepaired = 0
                    if found and repair_mismatches:
                        repaired, unrepaired = repair(conn, symbol, found, official, venue)
                    elif found:
                        unrepaired = len({m.open_ms for m in found})
                    record(
                        conn,
                        symbol,
                        (start_ms, end_ms),
                        len(official),
                        found,
                        repaired,
                        unrepaired,
                        fixed=repair_mismatches,
                        market=venue,
                    )
                result.compared[symbol] = len(official)
                result.mismatches += found
                result.repaired[symbol], result.unrepaired[symbol] = repaired, unrepaired
                logger.info(
                    "%s: %d official minutes compared, %d differing minutes, %d repaired "
                    "(%d minutes of the window before its history, not compared)",
                    symbol,
                    len(official),
                    len({m.open_ms for m in found}),
                    repaired,
                    result.before_history[symbol],
                )
    if rebuild and any(result.repaired.values()):
        # dbt builds as its own role (dbt_builder) unless the caller named one database URL.
        timeframes.build_timeframes(database_url, unit_tests=False, market=venue)
        result.rebuilt = True
    return result
