"""A restart's missed minutes: where each symbol's closed minutes end, read before it starts,
and the minutes between that and its start recorded, closed from Binance's klines or left to
heal-gaps.

A symbol (re)starts at the stream's first trade or REST's latest one. Every minute between the
newest one an earlier run closed and that start was missed: it joins the symbol's first gap
(Gaps), is closed from klines (one request per 1,000 minutes; a symbol the database knows may
even start from them, seed_from_klines) or is recorded for heal-gaps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from include.platform.backoff import Backoff
from include.platform.times import MINUTE_MS
from streamer.candle import Candle, minute_of
from streamer.gap import Gap
from streamer.gaps import HEALED_BY, KLINE_FINAL_MS
from streamer.parser import format_scaled, to_scaled
from streamer.sql import load_sql
from streamer.writer import GapOp

if TYPE_CHECKING:
    from streamer.aggregator import Aggregator
    from streamer.clock import ExchangeClock
    from streamer.config import StreamerConfig
    from streamer.gaps import Gaps
    from streamer.metrics import Metrics
    from streamer.tasks import Spawn
    from streamer.writer import Writer

logger = logging.getLogger(__name__)


# A restart's missed minutes are closed at Binance: they come from its klines, 1,000 minutes
# for 2 weight (the trades of one busy minute cost more). Longer outages go to heal-gaps.
RESUME_KLINES_MS = 1000 * MINUTE_MS


@dataclass(frozen=True)
class Resume:
    """Where a symbol's closed minutes in the database end, read before it starts."""

    # The minute after the newest closed one, and that one's close (scaled 1e8).
    minute: int
    close: int
    first_missing_trade_id: int | None
    # False: the minutes up to the start are recorded for heal-gaps, never fetched as trades.
    repair: bool


class Recovery:
    """What a start missed, per symbol: read before it is subscribed, joined to its first gap."""

    def __init__(
        self,
        config: StreamerConfig,
        aggregator: Aggregator,
        gaps: Gaps,
        writer: Writer,
        clock: ExchangeClock,
        metrics: Metrics,
        spawn: Spawn,
    ) -> None:
        self.config = config
        self.aggregator = aggregator
        # Records, repairs and the REST fetches with their retries are the gaps'.
        self.gaps = gaps
        self.writer = writer
        self.clock = clock
        self.metrics = metrics
        self.spawn = spawn
        self._resumes: dict[str, Resume] = {}

    # ----------------------------------------------------------------- starts
    def found(self, gap: Gap) -> None:
        """A gap from the stream, for Gaps.found: a symbol's startup gap first takes in the
        minutes its restart missed."""
        if gap.reason == "startup" and gap.symbol in self._resumes:
            gap = self._resume(gap.symbol, gap) or gap
        self.gaps.found(gap)

    def seeded(self, symbol: str, gap: Gap | None) -> None:
        """A symbol started from REST's latest trade (``gap``: its first minute's, if any)."""
        gap = self._resume(symbol, gap)
        if gap is not None:
            self.found(gap)

    # ----------------------------------------------------------------- resume points
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
            statement = self.config.market.sql(load_sql("select_newest_closed"))
            cur = await conn.execute(statement, (symbols,))
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
        self.gaps.record(gap, f"restart: {gap.minutes()} missed before this start ({why})")

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
        counts tell the id the current minute starts at: the stream's ids continue from it.
        The request takes in the current minute's kline as it stands too (Binance answers the
        unfinished one), the minute's trades before the stream's first: asked once the stream
        is subscribed, and the stream's trades held until then (``hold``), it holds them all
        but what Binance had not yet counted, which become the startup gap, fetched by time.
        (The latest trade costs 4 weight, and the missed minutes' klines must be fetched
        anyway.) False when this cannot be done (REST failing, a minute without a kline: a halt
        or a short answer): the caller seeds from the latest trade, and the missed minutes take
        their usual road.
        """
        now = self.clock.now_ms()
        if now % MINUTE_MS < KLINE_FINAL_MS:
            # The last minute's kline may not be final yet. Started at that minute, the
            # current one's trades before the stream's first would be in neither its kline
            # nor the stream: a startup gap over two minutes, fetched as trades.
            await self.clock.reached(minute_of(now) + KLINE_FINAL_MS)
        # Never before the resume point: the earlier run may have closed the last minute.
        end = max(minute_of(self.clock.now_ms() - KLINE_FINAL_MS), resume.minute)
        if end + MINUTE_MS - resume.minute > RESUME_KLINES_MS:
            return False
        # The missed minutes [resume.minute, end) and the start's own, end.
        asked = Gap(symbol, "restart", None, 0, None, 0, resume.minute, end + MINUTE_MS - 1)
        try:
            with self.gaps.klines_first():
                klines = await self.gaps.retries.fetch(asked, self.gaps.fetch.klines)
            # Parsed whole before anything is written: an answer with a field that does not
            # parse falls back whole.
            candles = self.aggregator.official(symbol, klines)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.gaps.retries.count(asked, exc)
            logger.warning(
                "klines seed of %s failed, seeding from the latest trade: %s", symbol, exc
            )
            return False
        finally:
            self.gaps.retries.done(asked)
        book = self.aggregator.books.get(symbol)
        if self._resumes.get(symbol) is not resume or (book is not None and book.high_seq):
            # The stream started the symbol meanwhile: _resume repairs from its first trade.
            return True
        official = [c for c in candles if c.open_time < end]
        if len({c.open_time for c in official}) < (end - resume.minute) // MINUTE_MS:
            return False
        del self._resumes[symbol]
        assert resume.first_missing_trade_id is not None  # klines_seed's condition
        # Spot trade ids run on without a hole: the klines' counts say where the minute begins.
        last_id = resume.first_missing_trade_id - 1 + sum(c.count for c in official)
        close = official[-1].close if official else resume.close
        own = next((c for c in candles if c.open_time == end), None)
        prefix = self._prefix(symbol, own, last_id)
        now = time.monotonic()
        self.aggregator.put_official(official, now)
        self.aggregator.start_at(symbol, end, last_id, close, now, prefix)
        if official:
            missed = Gap(symbol, "restart", None, 0, None, 0, resume.minute, end - 1)
            self.gaps.record(missed, f"restart: {missed.minutes()} missed before this start")
            self._healed_by_klines(missed, len(official))
        return True

    def _prefix(self, symbol: str, kline: Candle | None, last_id: int) -> Candle | None:
        """The start's own minute's kline as it stood, when it can stand for the minute's first
        trades: not for a symbol with 1s candles (their seconds need the trades), nor when a
        held trade has its last id and another price than its close (the count does not meet
        the ids: started without it, the minute is repaired as before)."""
        if kline is None or not kline.count or symbol in self.aggregator.seconds.symbols:
            return None
        book = self.aggregator.books.get(symbol)
        held = book.held if book is not None and book.held is not None else []
        last = last_id + kline.count
        for t in held:
            if t.last_id == last and t.price != kline.close:
                logger.warning(
                    "%s: the current minute's kline ends at trade %d at %s, the stream's at "
                    "%s: started without it",
                    symbol,
                    last,
                    format_scaled(kline.close),
                    format_scaled(t.price),
                )
                return None
        return kline

    def release(self, symbol: str) -> None:
        """Apply the stream's trades held while the symbol waited for its seed (in the order
        they came; those its klines counted are duplicates), its gaps found as the stream's."""
        now = time.monotonic()
        for t in self.aggregator.release(symbol):
            gap = self.aggregator.apply(t, now)
            if gap is not None:
                self.found(gap)

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
            self.gaps.record(missed, detail)
            self.spawn(self._from_klines(missed), f"klines {symbol} {missed.id}")
            return start
        # Left to heal-gaps: too long to fetch here.
        self.metrics.gaps_unhealed += 1
        self.gaps.record(
            span,
            f"{span.describe()}; not repaired from REST: down longer than "
            f"{RESUME_KLINES_MS // MINUTE_MS} minutes; left to heal-gaps",
        )
        return start

    # ----------------------------------------------------------------- klines
    async def _from_klines(self, gap: Gap) -> None:
        """A restart's missed minutes from Binance's klines, written closed; the gap heals. A
        minute without a kline (a halt, or an answer cut short) leaves the gap to heal-gaps,
        which asks again and records a halt; so does REST failing past the repair deadline."""
        try:
            with self.gaps.klines_first():
                klines = await self.gaps.retries.fetch(gap, self.gaps.fetch.klines)
            official = self.aggregator.official(gap.symbol, klines)
            self.aggregator.put_official(official, time.monotonic())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.gaps.retries.count(gap, exc)
            self.metrics.gaps_unhealed += 1
            detail = f"restart: {gap.minutes()}; klines not fetched from REST: {exc}"
            logger.error("gap %s unhealed: %s", gap.symbol, detail, extra=gap.log_context())
            self.writer.add_gap_op(GapOp("note", gap, detail=detail))
            return
        finally:
            self.gaps.retries.done(gap)
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
