"""A gap's whole life: recorded when found, repaired from REST, healed or left to heal-gaps.

Gaps are found by the aggregator (a jump in the stream's ids, a symbol's first minute), by the
prober (trades REST has that the stream never sent) and when a symbol starts (the minutes since
the newest one an earlier run closed). Each is recorded in market.ingest_gaps, fetched from REST
by id with retries, then marked healed; or, when REST will not fill it, left recorded for
heal-gaps with its minutes written but never closed. Either way its minutes are released: a
pending gap holds back every later minute of its symbol.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from include.platform.backoff import Backoff
from include.platform.times import MINUTE_MS
from streamer.aggregator import Gap, minute_of
from streamer.candle import ms_to_datetime
from streamer.fetch import GapFetch, GiveUp, KlinesFirst
from streamer.parser import Trade, to_scaled
from streamer.retries import Retries
from streamer.sql import load_sql
from streamer.writer import GapOp

if TYPE_CHECKING:
    from streamer.aggregator import Aggregator
    from streamer.clock import ExchangeClock
    from streamer.config import StreamerConfig
    from streamer.metrics import Metrics
    from streamer.rest import RestClient
    from streamer.tasks import Spawn
    from streamer.writer import Writer

logger = logging.getLogger(__name__)

HEALED_BY = "streamer:rest"
# A restart's missed minutes are closed at Binance: they come from its klines, 1,000 minutes
# for 2 weight (the trades of one busy minute cost more). Longer outages go to heal-gaps.
RESUME_KLINES_MS = 1000 * MINUTE_MS
# The exchange clock is an estimate: a minute counts as over (its kline final) only this long
# after it ended by that estimate.
KLINE_FINAL_MS = 5_000
# How long a startup gap's trades wait for the klines that close the minutes missed before
# this start (Gaps.klines_first) at most.
STARTUP_WAIT_S = 60.0
# With this many startup gaps under way at once (a start at ALL), each waits for its minutes'
# klines to be final and closes from them (2 weight a symbol) instead of fetching its trades
# (4 weight a page of aggTrades, ~1,500 pages at ALL: the next window's weight, and the start's
# own minute closed two minutes late). Fewer are fetched as trades, the live candle exact at
# once.
STARTUP_KLINES_MIN = 20


@dataclass(frozen=True)
class Resume:
    """Where a symbol's closed minutes in the database end, read before it starts."""

    # The minute after the newest closed one, and that one's close (scaled 1e8).
    minute: int
    close: int
    first_missing_trade_id: int | None
    # False: the minutes up to the start are recorded for heal-gaps, never fetched as trades.
    repair: bool


class Gaps:
    """Every gap of a running streamer, from the moment it is found until it is released."""

    def __init__(
        self,
        config: StreamerConfig,
        aggregator: Aggregator,
        writer: Writer,
        rest: RestClient,
        clock: ExchangeClock,
        metrics: Metrics,
        spawn: Spawn,
    ) -> None:
        self.config = config
        self.aggregator = aggregator
        # Gap records and heals go to the database with the candles, in the writer's batches.
        self.writer = writer
        self.rest = rest
        self.fetch = GapFetch(rest, config.stream, config.repair_max_trades)
        self.clock = clock
        self.metrics = metrics
        self.spawn = spawn
        # Open repairs per gap row (symbol, gap_start): the row heals when the last one does.
        self._keys: collections.Counter[tuple[str, int]] = collections.Counter()
        self._failed_keys: set[tuple[str, int]] = set()
        # Every REST fetch of a repair, retried until the deadline; which repairs are failing.
        self.retries = Retries(rest, metrics, config.repair_deadline)
        self._resumes: dict[str, Resume] = {}
        # Seed batches and klines fetches under way: startup gaps wait for none to be left.
        self.klines_first = KlinesFirst(STARTUP_WAIT_S)
        # Startup gaps under way (_repair), which chooses klines or trades by their number.
        self._startups = 0

    # ----------------------------------------------------------------- found
    def found(self, gap: Gap) -> None:
        """A new gap: record it (a startup gap only if it fails) and repair it in the background."""
        if gap.reason == "startup" and gap.symbol in self._resumes:
            gap = self._resume(gap.symbol, gap) or gap
        if gap.reason != "startup":
            self._keys[(gap.symbol, gap.gap_start)] += 1
            self._record(gap, gap.describe())
        self.spawn(self._repair(gap), f"repair {gap.symbol} {gap.id}")

    def seeded(self, symbol: str, gap: Gap | None) -> None:
        """A symbol started from REST's latest trade (``gap``: its first minute's, if any)."""
        gap = self._resume(symbol, gap)
        if gap is not None:
            self.found(gap)

    # ----------------------------------------------------------------- restarts
    async def read_resumes(self, symbols: list[str], *, repair: bool = True) -> None:
        """Read where each symbol's closed minutes end, before it is subscribed.

        A symbol (re)starts at the stream's first trade or REST's latest one; every minute
        between the newest one an earlier run closed and that start was missed and joins the
        symbol's first gap. repair=False (a symbol trading again while we run: the minutes in
        between may be a halt, which has no klines and must not be filled as idle) records them
        for heal-gaps instead, as does STREAMER_STARTUP_REPAIR=false, and a symbol whose rows
        were never closed. No missed minute is left unrecorded: a read that fails is tried
        again in the background until it succeeds, and what it finds is recorded then.
        """
        for symbol in symbols:
            self._resumes.pop(symbol, None)
        if not symbols:
            return
        start = minute_of(self.clock.now_ms())
        try:
            rows = await self._read_newest(symbols)
        except (psycopg.Error, OSError) as exc:
            logger.warning(
                "newest closed minutes not read (%s): trying again in the background, to "
                "record what this start missed",
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
            self.spawn(self._read_later(symbols, start), "late resume read")
            return
        repair = repair and self.config.startup_repair
        for symbol, open_time, close, last_trade_id, is_closed in rows:
            first = int(open_time.timestamp()) * 1000 + (MINUTE_MS if is_closed else 0)
            if not (repair and is_closed):
                if not self.config.startup_repair:
                    # Nothing is seeded: the stream starts mid-minute, that minute missed too.
                    self._missed(symbol, first, start + MINUTE_MS, "startup repair is off")
                    continue
                if not is_closed:
                    self._missed(symbol, first, start, "no minute of it was ever closed")
                    continue
            self._resumes[symbol] = Resume(
                first,
                to_scaled(close, "close"),
                None if last_trade_id is None else last_trade_id + 1,
                repair,
            )

    async def _read_newest(self, symbols: list[str]) -> list[tuple]:
        """Each symbol's newest closed minute (select_newest_closed.sql)."""
        # Its own short session, apart from the writer's ('streamer').
        async with await psycopg.AsyncConnection.connect(
            self.config.database_url, connect_timeout=5, application_name="streamer-resume"
        ) as conn:
            cur = await conn.execute(load_sql("select_newest_closed"), (symbols,))
            return await cur.fetchall()

    async def _read_later(self, symbols: list[str], start: int) -> None:
        """The read of read_resumes, retried until the database answers; every minute between
        a symbol's newest closed one and this start is then recorded for heal-gaps (the stream
        has long moved on, so nothing is fetched here)."""
        backoff = Backoff(1.0, 30.0, jitter=False)
        while True:
            await asyncio.sleep(backoff.next())
            try:
                rows = await self._read_newest(symbols)
            except (psycopg.Error, OSError):
                continue
            end = start if self.config.startup_repair else start + MINUTE_MS
            for symbol, open_time, _close, _last_id, is_closed in rows:
                first = int(open_time.timestamp()) * 1000 + (MINUTE_MS if is_closed else 0)
                self._missed(symbol, first, end, "read late: the database was unreachable")
            return

    def _missed(self, symbol: str, first_ms: int, end_ms: int, why: str) -> None:
        """Minutes [first_ms, end_ms) missed before this start, recorded for heal-gaps."""
        if end_ms <= first_ms:
            return
        gap = Gap(symbol, "restart", None, 0, None, 0, first_ms, end_ms - 1)
        self._record(gap, f"restart: {gap.minutes()} missed before this start ({why})")

    def klines_seed(self, symbol: str) -> Resume | None:
        """The symbol's resume point when its start can come from klines alone (seed_from_klines):
        a trade stream (klines count raw trades), repairable, its last trade id known."""
        resume = self._resumes.get(symbol)
        if (
            resume is None
            or not resume.repair
            or resume.first_missing_trade_id is None
            or self.config.stream != "trade"
        ):
            return None
        return resume

    async def seed_from_klines(self, symbol: str, resume: Resume) -> bool:
        """Start a symbol the database knows from Binance's klines instead of REST's latest trade.

        One request (2 weight per 1,000 minutes) closes every missed minute, and their trade
        counts tell the id the current minute starts at: the stream's ids continue from it, the
        current minute's earlier trades are fetched by time. (The latest trade costs 4 weight,
        and the missed minutes' klines must be fetched anyway.) False when this cannot be done
        (REST failing, a minute without a kline: a halt or a short answer): the caller seeds
        from the latest trade, and the missed minutes take their usual road.
        """
        # Never before the resume point: within KLINE_FINAL_MS of a minute's start the last
        # final kline may be one the earlier run already closed, and the symbol must start
        # after it (started at it, that minute would close idle over the exact row).
        end = max(minute_of(self.clock.now_ms() - KLINE_FINAL_MS), resume.minute)
        if end - resume.minute > RESUME_KLINES_MS:
            return False
        missed = Gap(symbol, "restart", None, 0, None, 0, resume.minute, end - 1)
        try:
            with self.klines_first():
                klines = (
                    await self.retries.fetch(missed, self.fetch.klines)
                    if end > resume.minute
                    else []
                )
            # Parsed whole before anything is written: an answer with a field that does not
            # parse falls back whole.
            official = self.aggregator.official(symbol, klines)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.retries.count(missed, exc)
            logger.warning(
                "klines seed of %s failed, seeding from the latest trade: %s", symbol, exc
            )
            return False
        finally:
            self.retries.done(missed)
        book = self.aggregator.books.get(symbol)
        if self._resumes.get(symbol) is not resume or (book is not None and book.high_seq):
            # The stream started the symbol meanwhile: _resume repairs from its first trade.
            return True
        if len({int(k[0]) for k in klines}) < (end - resume.minute) // MINUTE_MS:
            return False
        del self._resumes[symbol]
        assert resume.first_missing_trade_id is not None  # klines_seed's condition
        # Spot trade ids run on without a hole: the klines' counts say where the minute begins.
        last_id = resume.first_missing_trade_id - 1 + sum(c.count for c in official)
        close = official[-1].close if official else resume.close
        self.aggregator.put_official(official, time.monotonic())
        self.aggregator.start_at(symbol, end, last_id, close)
        if klines:
            self._record(missed, f"restart: {missed.minutes()} missed before this start")
            self._healed_by_klines(missed, len(klines))
        return True

    def forget(self, symbol: str) -> None:
        """The symbol left the stream before it started: its resume point is stale."""
        self._resumes.pop(symbol, None)

    def _resume(self, symbol: str, start: Gap | None) -> Gap | None:
        """The symbol just started (``start``: its startup gap, if any): the minutes between the
        database's newest closed one and the start become part of a gap. Returns the gap to
        repair (``start``, widened, or a new one), else ``start``."""
        resume = self._resumes.pop(symbol, None)
        book = self.aggregator.books.get(symbol)
        if resume is None or book is None or book.next_close is None:
            return start
        began = book.next_close
        if resume.minute >= began:
            return start
        last_missing = start.last_missing_trade_id if start is not None else book.high_trade_id
        first_missing = resume.first_missing_trade_id
        if first_missing is not None and (last_missing is None or first_missing > last_missing):
            first_missing = None
        if resume.repair and start is None and book.high_time < resume.minute:
            # Nothing traded since: the minutes are idle, closed once a probe proves it.
            return self.aggregator.resume(symbol, start, resume.minute, resume.close, first_missing)
        span = Gap(
            symbol,
            "restart",
            None,
            book.high_seq or 0,
            first_missing,
            last_missing or 0,
            resume.minute,
            began - 1,
        )
        if began - resume.minute <= RESUME_KLINES_MS:
            # Every missed minute before the stream's first is closed at Binance: its klines,
            # not its trades; the stream's first minute keeps its own startup repair. A symbol
            # trading again (not resume.repair) may have a halt in the span, which has no
            # klines and must never get idle candles: _from_klines writes the minutes that have
            # one and leaves the gap to heal-gaps, which records the halt.
            if resume.repair:
                missed = Gap(symbol, "restart", None, 0, None, 0, resume.minute, began - 1)
                detail = f"restart: {missed.minutes()} missed before this start"
            else:
                missed = span
                detail = (
                    f"{span.describe()}; the symbol was not trading: its minutes with a kline "
                    "from REST, the rest (a halt) left to heal-gaps"
                )
            self._record(missed, detail)
            self.spawn(self._from_klines(missed), f"klines {symbol} {missed.id}")
            return start
        # Left to heal-gaps: too long to fetch here.
        self.metrics.gaps_unhealed += 1
        self._record(
            span,
            f"{span.describe()}; not repaired from REST: down longer than "
            f"{RESUME_KLINES_MS // MINUTE_MS} minutes; left to heal-gaps",
        )
        return start

    def halted(self, symbol: str, status: str, start_ms: int, end_ms: int) -> None:
        """exchangeInfo shows the symbol in ``status`` (not TRADING, or TRADING again at the
        halt's last widening): its minutes from start_ms to end_ms are recorded as a halt,
        unhealed, for heal-gaps to confirm (a row for the same start widens)."""
        gap = Gap(symbol, "halt", None, 0, None, 0, start_ms, end_ms - 1)
        since = ms_to_datetime(start_ms).isoformat()
        detail = (
            f"halt: exchangeInfo shows {status} since {since}"
            if status != "TRADING"
            else f"halt from {since}: exchangeInfo shows TRADING again by "
            f"{ms_to_datetime(end_ms).isoformat()}"
        )
        self.writer.add_gap_op(GapOp("record", gap, detail=detail))

    def _record(self, gap: Gap, detail: str) -> None:
        self.metrics.gaps_found += 1
        self.writer.add_gap_op(GapOp("record", gap, detail=detail))
        logger.warning("gap %s: %s", gap.symbol, detail, extra=gap.log_context())

    # ----------------------------------------------------------------- repair
    async def _repair(self, gap: Gap) -> None:
        """Fill a gap from REST; whatever fails, the gap ends healed or recorded unhealed.

        A gap left pending holds back every later minute of its symbol, so no error may leave
        this task with the gap still pending: past the deadline it goes to heal-gaps and the
        symbol's minutes close again.
        """
        startup = gap.reason == "startup"
        self._startups += startup
        try:
            if startup:
                await self.klines_first.wait()
                if self._startups >= STARTUP_KLINES_MIN and await self._startup_from_klines(gap):
                    return
            trades = await self.retries.fetch(gap, self.fetch.trades)
            self._repaired(gap, trades)
        except asyncio.CancelledError:
            raise
        except GiveUp as exc:
            self._unrepaired(gap, str(exc))
        except Exception as exc:
            self.retries.count(gap, exc)
            self._unrepaired(gap, f"{type(exc).__name__}: {exc}")
        finally:
            self._startups -= startup
            self.retries.done(gap)

    async def _startup_from_klines(self, gap: Gap) -> bool:
        """Close a startup gap's minute from Binance's kline once it is final, 2 weight. False
        (the caller fetches the trades) for a symbol with 1s candles, a gap over more than one
        minute, a minute without a kline or REST failing past the repair deadline.

        A gap over two minutes (a quiet symbol whose stream's first trade came a minute after
        its start) would hold its first minute until the second one's kline is final, a
        minute late (the restart bench's slowest symbols): its trades are few and go first.
        """
        # A start from klines (start_at) opens the gap in the last minute they closed.
        book = self.aggregator.books.get(gap.symbol)
        first = max(gap.gap_start, book.next_close or 0) if book is not None else gap.gap_start
        if gap.symbol in self.aggregator.seconds.symbols or gap.gap_end - first > MINUTE_MS:
            return False
        # The exchange clock is a lower bound: past this, every kline of the gap is final.
        await self.clock.reached(gap.gap_end + KLINE_FINAL_MS)

        async def from_first(g: Gap) -> list[list]:
            return await self.rest.klines_1m(g.symbol, first, g.gap_end)

        try:
            klines = await self.retries.fetch(gap, from_first)
            official = self.aggregator.official(gap.symbol, klines)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.retries.count(gap, exc)
            logger.warning(
                "klines of startup gap %s failed, fetching its trades: %s", gap.symbol, exc
            )
            return False
        finally:
            self.retries.done(gap)
        if len({c.open_time for c in official}) < (gap.gap_end - first) // MINUTE_MS:
            return False
        self.aggregator.apply_klines(gap, official, time.monotonic())
        self.metrics.startup_klines += 1
        logger.info(
            "startup gap %s closed from %d klines",
            gap.symbol,
            len(official),
            extra=gap.log_context(),
        )
        return True

    async def _from_klines(self, gap: Gap) -> None:
        """A restart's missed minutes from Binance's klines, written closed; the gap heals. A
        minute without a kline (a halt, or an answer cut short) leaves the gap to heal-gaps,
        which asks again and records a halt; so does REST failing past the repair deadline."""
        try:
            with self.klines_first():
                klines = await self.retries.fetch(gap, self.fetch.klines)
            official = self.aggregator.official(gap.symbol, klines)
            self.aggregator.put_official(official, time.monotonic())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.retries.count(gap, exc)
            self.metrics.gaps_unhealed += 1
            detail = f"restart: {gap.minutes()}; klines not fetched from REST: {exc}"
            logger.error("gap %s unhealed: %s", gap.symbol, detail, extra=gap.log_context())
            self.writer.add_gap_op(GapOp("note", gap, detail=detail))
            return
        finally:
            self.retries.done(gap)
        expected = (gap.gap_end - gap.gap_start) // MINUTE_MS
        if len({int(k[0]) for k in klines}) < expected:
            self.metrics.gaps_unhealed += 1
            detail = (
                f"restart: {gap.minutes()}; {len(klines)} of {expected} have a kline at "
                "Binance: the rest may be a halt, left to heal-gaps"
            )
            self.writer.add_gap_op(GapOp("note", gap, detail=detail))
            return
        self._healed_by_klines(gap, len(klines))
        logger.info("gap %s healed: %d klines from REST", gap.symbol, len(klines))

    def _healed_by_klines(self, gap: Gap, n: int) -> None:
        """A restart gap whose every minute was written from Binance's klines: its row heals."""
        self.metrics.gaps_repaired += 1
        detail = f"restart: {gap.minutes()}; {n} official klines from REST"
        self.writer.add_gap_op(GapOp("heal", gap, healed_by=HEALED_BY, detail=detail))

    # ----------------------------------------------------------------- release
    def _repaired(self, gap: Gap, trades: list[Trade]) -> None:
        """Fold the trades in, release the minutes; the row heals with its last repair."""
        self.aggregator.apply_repair(gap, trades, time.monotonic())
        if gap.reason == "startup":
            return
        self.metrics.gaps_repaired += 1
        key = (gap.symbol, gap.gap_start)
        self._keys[key] -= 1
        if self._keys[key] <= 0 and key not in self._failed_keys:
            n = sum(t.count for t in trades)
            detail = f"{gap.describe()}; {n} trades from REST"
            self.writer.add_gap_op(GapOp("heal", gap, healed_by=HEALED_BY, detail=detail))
        logger.info(
            "gap %s healed: %d records from REST", gap.symbol, len(trades), extra=gap.log_context()
        )

    def _unrepaired(self, gap: Gap, reason: str) -> None:
        """REST will not fill the gap: record it unhealed for heal-gaps, release its minutes."""
        self.aggregator.fail_repair(gap, time.monotonic())
        self.metrics.gaps_unhealed += 1
        key = (gap.symbol, gap.gap_start)
        self._failed_keys.add(key)
        detail = f"{gap.describe()}; not repaired from REST: {reason}"
        logger.error(
            "gap %s unhealed: %s", gap.symbol, detail, extra=gap.log_context() | {"error": reason}
        )
        # A startup gap is written only when it could not be repaired.
        self.writer.add_gap_op(
            GapOp("record" if gap.reason == "startup" else "note", gap, detail=detail)
        )
