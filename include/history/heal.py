"""Gap healing: find missing minutes per symbol, fetch them from REST, record what was healed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from include.history import klines_store
from include.history.backfill import fetch_range
from include.history.first_days import record_first_days
from include.history.job import rest_job
from include.history.klines_store import load_sql
from include.history.results import HealResult
from include.platform.binance_rest.client import BinanceRest
from include.platform.binance_rest.weights import KLINES_LIMIT
from include.platform.markets import SPOT, Market
from include.platform.symbols import resolve_symbols
from include.platform.times import MINUTE_MS, to_datetime, to_ms

logger = logging.getLogger(__name__)

# The live streamer closes the running minute itself; REST only fills older holes.
DEFAULT_LAG_MINUTES = 5
DEFAULT_MAX_MINUTES = 200 * KLINES_LIMIT
# How recent a first live candle must be for heal to look before it (a listing, not a symbol
# whose history is simply not loaded): one day.
LISTING_LOOKBACK_MS = 1440 * MINUTE_MS
# Minutes Binance has no kline for inside a symbol's life: a trading halt. A fact, not a defect:
# recorded once, never refetched or invented, exempt from continuity, reported by quality.
HALT_REASON = "halt"
# Where the hole scan looks for its first minute before the watermark, first (see series_anchor).
ANCHOR_LOOKBACK = timedelta(days=1)
# Before any candle: the scan of a whole history.
START_OF_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Span:
    """[start, end) in epoch ms."""

    start_ms: int
    end_ms: int

    @property
    def minutes(self) -> int:
        return (self.end_ms - self.start_ms) // MINUTE_MS


def merge_spans(spans: Sequence[Span]) -> list[Span]:
    """Overlapping or touching spans merged, in time order."""
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start_ms):
        if out and span.start_ms <= out[-1].end_ms:
            out[-1] = Span(out[-1].start_ms, max(out[-1].end_ms, span.end_ms))
        else:
            out.append(span)
    return out


def series_anchor(
    conn: psycopg.Connection, symbol: str, since_ms: int | None, market: Market = SPOT
) -> datetime | None:
    """The newest minute of the series held at or before since_ms (None: none, or no since_ms).

    The day before since_ms first: the stretch the planner then reads is one or two monthly
    partitions, not every month of the history; the whole history only when that day is empty.
    """
    if since_ms is None:
        return None
    since = to_datetime(since_ms)
    for floor in (since - ANCHOR_LOOKBACK, START_OF_TIME):
        (anchor,) = conn.execute(
            market.sql(load_sql("select_series_anchor")),
            {"symbol": symbol, "since": since, "floor": floor},
        ).fetchone()
        if anchor is not None:
            return anchor
    return None


def series_holes(
    conn: psycopg.Connection,
    symbol: str,
    until_ms: int | None,
    since_ms: int | None = None,
    market: Market = SPOT,
) -> list[Span]:
    """Holes in the unified 1m series after since_ms (None: since the symbol's first candle),
    and up to until_ms."""
    rows = conn.execute(
        market.sql(load_sql("select_series_holes")),
        {
            "symbol": symbol,
            "until": to_datetime(until_ms) if until_ms is not None else None,
            "first": series_anchor(conn, symbol, since_ms, market) or START_OF_TIME,
        },
    )
    return [Span(to_ms(a), to_ms(b)) for a, b in rows]


def watermark(conn: psycopg.Connection, symbol: str, market: Market = SPOT) -> int | None:
    """Up to when heal-gaps has checked the symbol's series (None: never, or reset)."""
    row = conn.execute(
        market.sql("select checked_until from market.heal_watermarks where symbol = %s"),
        (symbol,),
    ).fetchone()
    return to_ms(row[0]) if row else None


def set_watermark(
    conn: psycopg.Connection,
    symbol: str,
    until_ms: int,
    read_ms: int | None = None,
    market: Market = SPOT,
) -> None:
    """Every minute of the symbol before until_ms is held, a halt, or a recorded gap.

    read_ms is the watermark this run read before it scanned. A loader that moved it back
    meanwhile (it loaded older minutes, which may leave holes this run never looked at) keeps
    its move: the watermark is only set to until_ms if it is still what the run read, else
    it becomes the earlier of the two. One statement, so it cannot interleave with the move."""
    conn.execute(
        market.sql(
            "insert into market.heal_watermarks (symbol, checked_until) values (%s, %s) "
            "on conflict (symbol) do update set checked_until = case "
            "when market.heal_watermarks.checked_until is not distinct from %s "
            "then excluded.checked_until "
            "else least(market.heal_watermarks.checked_until, excluded.checked_until) end, "
            "updated_at = now()"
        ),
        (
            symbol,
            to_datetime(until_ms),
            None if read_ms is None else to_datetime(read_ms),
        ),
    )


def settled_spans(
    conn: psycopg.Connection, symbol: str, since_ms: int | None = None, market: Market = SPOT
) -> list[Span]:
    """Spans heal-gaps already asked Binance about: a hole inside one has no kline to fetch."""
    rows = conn.execute(
        market.sql(
            "select gap_start, gap_end from market.ingest_gaps "
            "where symbol = %s and healed_at is not null and gap_end > %s"
        ),
        (symbol, to_datetime(since_ms) if since_ms is not None else "-infinity"),
    )
    return merge_spans([Span(to_ms(a), to_ms(b)) for a, b in rows])


def recorded_gaps(conn: psycopg.Connection, symbol: str, market: Market = SPOT) -> list[Span]:
    """Unhealed gaps other writers (the streamer) recorded."""
    rows = conn.execute(
        market.sql(
            "select gap_start, gap_end from market.ingest_gaps "
            "where symbol = %s and healed_at is null order by gap_start"
        ),
        (symbol,),
    )
    return [Span(to_ms(a), to_ms(b)) for a, b in rows]


def missing_runs(
    conn: psycopg.Connection, symbol: str, span: Span, market: Market = SPOT
) -> list[Span]:
    """Minutes of span that neither table holds, as runs."""
    rows = conn.execute(
        market.sql(
            "select open_time from market.klines_1m where symbol = %(s)s "
            "and open_time >= %(a)s and open_time < %(b)s "
            "union select open_time from market.candles_1m_live where symbol = %(s)s "
            "and is_closed and open_time >= %(a)s and open_time < %(b)s order by 1"
        ),
        {"s": symbol, "a": to_datetime(span.start_ms), "b": to_datetime(span.end_ms)},
    )
    runs, cursor = [], span.start_ms
    for (open_time,) in rows:
        minute = to_ms(open_time)
        if minute > cursor:
            runs.append(Span(cursor, minute))
        cursor = minute + MINUTE_MS
    if cursor < span.end_ms:
        runs.append(Span(cursor, span.end_ms))
    return runs


def _covered(span: Span, settled: Sequence[Span]) -> bool:
    return any(s.start_ms <= span.start_ms and span.end_ms <= s.end_ms for s in settled)


def record(
    conn: psycopg.Connection,
    symbol: str,
    span: Span,
    reason: str,
    detail: str,
    market: Market = SPOT,
) -> None:
    """Record a healed span in market.ingest_gaps (the market's; market.record_gap: a gap
    another writer recorded keeps its reason, unless REST proved it a halt)."""
    conn.execute(
        load_sql("record_gap" if market is SPOT else "record_gap_in"),
        {
            "gaps": market.table("ingest_gaps"),
            "symbol": symbol,
            "gap_start": to_datetime(span.start_ms),
            "gap_end": to_datetime(span.end_ms),
            "reason": reason,
            "detected_by": "heal-gaps",
            "healed": True,
            "detail": detail,
        },
    )


def heal_symbol(
    client: BinanceRest,
    conn: psycopg.Connection,
    symbol: str,
    *,
    trading: bool,
    closed_before_ms: int,
    lag_minutes: int,
    max_minutes: int,
    tail_from_ms: int | None = None,
    full: bool = False,
) -> tuple[int, int, int]:
    """Heal one symbol; return (minutes filled, minutes Binance has no kline for, spans).

    tail_from_ms: for a symbol no longer trading, its newest live minute, newer than any
    official kline (see select_delisted_tails.sql). full: look from the first candle, not from
    the symbol's heal watermark.
    """
    market = client.market
    page = market.klines_page
    horizon = closed_before_ms - closed_before_ms % MINUTE_MS - lag_minutes * MINUTE_MS
    read = watermark(conn, symbol, market)
    since = None if full else read
    # The scan starts at the newest minute held at or before the watermark: settled spans
    # ending before that one minute earlier cannot cover any hole found.
    settled = settled_spans(conn, symbol, None if since is None else since - 2 * MINUTE_MS, market)
    holes = [
        h
        for h in series_holes(conn, symbol, horizon if trading else None, since, market)
        if not _covered(h, settled)
    ]
    recorded = [
        Span(g.start_ms, min(g.end_ms, horizon))
        for g in recorded_gaps(conn, symbol, market)
        if g.start_ms < horizon
    ]
    filled = unfillable = done = 0
    budget = max_minutes
    complete = True
    lead = leading_span(conn, symbol, horizon, market) if trading else None
    if lead is not None:
        # A symbol the streamer began (a listing) before any history: its first minutes,
        # traded before its stream was subscribed, lie before the first candle, where no hole
        # between candles can show them.
        fetched, _ = fetch_range(client, conn, symbol, lead.start_ms, lead.end_ms, closed_before_ms)
        filled += fetched
        done += 1 if fetched else 0
    for span in merge_spans(holes + recorded):
        if budget <= 0:
            logger.info("%s: minute budget of this run spent, the rest waits", symbol)
            complete = False
            break
        if span.minutes > budget:
            span = Span(span.start_ms, span.start_ms + budget * MINUTE_MS)
            complete = False
        budget -= span.minutes
        fetched, lost = _fill(client, conn, symbol, span, closed_before_ms)
        filled += fetched
        unfillable += lost
        done += 1
    if not trading and tail_from_ms is not None and tail_from_ms < horizon:
        # One page from the newest live minute: Binance's klines stop where trading stopped,
        # and nothing after the last one is a halt, so the span ends there.
        tail = Span(tail_from_ms, min(horizon, tail_from_ms + page * MINUTE_MS))
        fetched, lost = _fill(client, conn, symbol, tail, closed_before_ms, until_last=True)
        filled += fetched
        unfillable += lost
        done += 1 if fetched else 0
    if complete and horizon > (since or 0):
        # Every minute before the horizon is now held, a halt, or a recorded gap.
        set_watermark(conn, symbol, horizon, read, market)
    return filled, unfillable, done


def leading_span(
    conn: psycopg.Connection, symbol: str, horizon_ms: int, market: Market = SPOT
) -> Span | None:
    """The page before a symbol's first live candle, when no official kline precedes it and
    that candle is from the last day (a new listing): Binance's klines there are its first."""
    # Asked so that the planner knows the day it looks at (its monthly partitions only), and
    # older months answer an EXISTS, which stops at the first row; a symbol with history
    # before that day (nearly all) is done after the first statement. The cost does not grow
    # with the history, as min() over every month would.
    recent = to_datetime(horizon_ms - LISTING_LOOKBACK_MS)
    first_live, older_kline = conn.execute(
        market.sql(
            "select (select min(open_time) from market.candles_1m_live"
            " where symbol = %(s)s and open_time >= %(recent)s),"
            " exists (select from market.klines_1m where symbol = %(s)s"
            " and open_time < %(recent)s)"
        ),
        {"s": symbol, "recent": recent},
    ).fetchone()
    if first_live is None or older_kline:
        return None
    older_live, kline_first = conn.execute(
        market.sql(
            "select exists (select from market.candles_1m_live"
            " where symbol = %(s)s and open_time < %(recent)s),"
            " exists (select from market.klines_1m where symbol = %(s)s"
            " and open_time <= %(first)s)"
        ),
        {"s": symbol, "recent": recent, "first": first_live},
    ).fetchone()
    if older_live or kline_first:
        return None
    first_ms = to_ms(first_live)
    return Span(first_ms - market.klines_page * MINUTE_MS, first_ms)


def _newest_official(
    conn: psycopg.Connection, symbol: str, span: Span, market: Market = SPOT
) -> int | None:
    row = conn.execute(
        market.sql(
            "select max(open_time) from market.klines_1m "
            "where symbol = %s and open_time >= %s and open_time < %s"
        ),
        (symbol, to_datetime(span.start_ms), to_datetime(span.end_ms)),
    ).fetchone()
    return to_ms(row[0]) if row and row[0] is not None else None


def _fill(
    client: BinanceRest,
    conn: psycopg.Connection,
    symbol: str,
    span: Span,
    closed_before_ms: int,
    *,
    until_last: bool = False,
) -> tuple[int, int]:
    """Fetch span from REST and record it healed; minutes without kline become a halt.

    With until_last the span is cut after the newest kline REST had (a symbol that stopped
    trading): (0, 0) and nothing recorded when it had none.
    """
    market = client.market
    fetched, _ = fetch_range(client, conn, symbol, span.start_ms, span.end_ms, closed_before_ms)
    if until_last:
        newest = _newest_official(conn, symbol, span, market)
        if newest is None:
            return 0, 0
        span = Span(span.start_ms, newest + MINUTE_MS)
    # One answer without a minute is not yet a halt (a partial answer happens): ask again for
    # what is still missing, and only a minute absent from both answers is recorded as one.
    for run in missing_runs(conn, symbol, span, market):
        again, _ = fetch_range(client, conn, symbol, run.start_ms, run.end_ms, closed_before_ms)
        fetched += again
    with conn.transaction():
        # A span cut at the horizon or the run's budget ends inside a gap another writer
        # recorded: only the part fetched is settled, the rest stays open.
        conn.execute(
            market.sql(load_sql("split_open_gaps")),
            {
                "symbol": symbol,
                "start": to_datetime(span.start_ms),
                "at": to_datetime(span.end_ms),
            },
        )
        left = missing_runs(conn, symbol, span, market)
        lost = sum(run.minutes for run in left)
        record(
            conn,
            symbol,
            span,
            "missing_in_series",
            f"{fetched} minutes fetched from REST, {lost} have no kline at Binance",
            market,
        )
        for run in left:
            record(conn, symbol, run, HALT_REASON, "REST has no kline: trading halted", market)
        # Every gap row inside the span is settled now, not only the one starting with it.
        conn.execute(
            market.sql(
                "update market.ingest_gaps set healed_at = now(), healed_by = 'heal-gaps' "
                "where symbol = %s and healed_at is null and gap_start >= %s and gap_end <= %s"
            ),
            (symbol, to_datetime(span.start_ms), to_datetime(span.end_ms)),
        )
    return fetched, lost


def heal_gaps(
    symbols: Sequence[str] | None = None,
    *,
    database_url: str | None = None,
    rest_url: str | None = None,
    client: BinanceRest | None = None,
    lag_minutes: int = DEFAULT_LAG_MINUTES,
    max_minutes: int = DEFAULT_MAX_MINUTES,
    full: bool = False,
    market: str | Market = SPOT,
) -> HealResult:
    """Find and fill missing minutes for the given symbols (default: the market's SYMBOLS,
    ALL = trading) of a market (spot's unless given: a futures market's, in its schema).

    Each symbol is looked at after its heal watermark (what earlier runs checked; loads of
    older minutes move it back), so a run costs what happened since the last one; full=True
    looks at every symbol's whole history.
    """
    result = HealResult()
    with rest_job(
        database_url=database_url, rest_url=rest_url, client=client, market_name=market
    ) as job:
        venue, url, client = job.market, job.database_url, job.client
        info = client.exchange_info()
        closed_before_ms = int(info["serverTime"])
        status = {
            s["symbol"]: s["status"] if "status" in s else s.get("contractStatus")
            for s in info.get("symbols", [])
        }
        wanted = resolve_symbols(symbols, exchange_info=info, market=venue)
        with psycopg.connect(url, autocommit=True) as conn:
            klines_store.store_symbols(conn, info, venue)
            # History loaded from dumps alone has no first day of trading (3d's grid): read
            # once per symbol, as the REST backfill does.
            record_first_days(conn, client, wanted)
            with_gaps = [
                r[0]
                for r in conn.execute(
                    venue.sql(
                        "select distinct symbol from market.ingest_gaps where healed_at is null"
                    )
                )
            ]
            tails = {
                symbol: to_ms(newest)
                for symbol, newest in conn.execute(venue.sql(load_sql("select_delisted_tails")))
            }
            for symbol in dict.fromkeys([*wanted, *with_gaps, *tails]):
                filled, lost, spans = heal_symbol(
                    client,
                    conn,
                    symbol,
                    trading=status.get(symbol) == "TRADING",
                    closed_before_ms=closed_before_ms,
                    lag_minutes=lag_minutes,
                    max_minutes=max_minutes,
                    tail_from_ms=tails.get(symbol),
                    full=full,
                )
                result.filled[symbol], result.unfillable[symbol] = filled, lost
                result.spans[symbol] = spans
                if spans:
                    logger.info(
                        "%s: %d spans, %d minutes filled, %d without kline at Binance",
                        symbol,
                        spans,
                        filled,
                        lost,
                    )
    return result
