"""A gap's whole life: recorded when found, repaired from REST, healed or left to heal-gaps.

Gaps are found by the aggregator (a jump in the stream's ids, a symbol's first minute), by the
prober (trades REST has that the stream never sent) and when a symbol starts (the minutes since
the newest one an earlier run closed: streamer/recovery.py). Each is recorded in
market.ingest_gaps, fetched from REST by id with retries, then marked healed; or, when REST will
not fill it, left recorded for heal-gaps with its minutes written but never closed. Either way
its minutes are released: a pending gap holds back every later minute of its symbol.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING

from include.platform.times import MINUTE_MS
from streamer.candle import ms_to_datetime
from streamer.fetch import GapFetch, GiveUp, KlinesFirst
from streamer.gap import Gap
from streamer.parser import Trade
from streamer.retries import Retries
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
        # Seed batches and klines fetches under way: startup gaps wait for none to be left.
        self.klines_first = KlinesFirst(STARTUP_WAIT_S)
        # Startup gaps under way (_repair), which chooses klines or trades by their number.
        self._startups = 0

    # ----------------------------------------------------------------- found
    def found(self, gap: Gap) -> None:
        """A new gap: record it (a startup gap only if it fails) and repair it in the background."""
        if gap.reason != "startup":
            self._keys[(gap.symbol, gap.gap_start)] += 1
            self.record(gap, gap.describe())
        self.spawn(self._repair(gap), f"repair {gap.symbol} {gap.id}")

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

    def record(self, gap: Gap, detail: str) -> None:
        """A gap found, counted, logged and recorded in market.ingest_gaps (unhealed)."""
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
