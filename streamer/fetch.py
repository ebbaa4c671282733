"""A gap's missing records from REST: its trades by id or by time, a restart's minutes' klines;
and KlinesFirst, which orders a start's fetches (klines before startup gaps' trades).

No retries here: streamer/retries.py retries a fetch as a whole, with backoff, until the repair
deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from include.platform.times import MINUTE_MS
from streamer.gap import Gap
from streamer.parser import Trade
from streamer.rest import PAGE, RestClient, RestUnavailable

# aggTrades by time answers a window of at most an hour.
AGG_WINDOW_MS = 60 * MINUTE_MS


class GiveUp(RuntimeError):
    """A gap REST will not be asked to fill (too large)."""


class GapFetch:
    """Fetches what a gap is missing from the REST client, on the trade or aggTrade stream's ids."""

    def __init__(self, rest: RestClient, stream: str, max_trades: int) -> None:
        self.rest = rest
        self.stream = stream
        # STREAMER_REPAIR_MAX_TRADES: a larger gap is left to heal-gaps.
        self.max_trades = max_trades

    async def klines(self, gap: Gap) -> list[list]:
        """Binance's klines of the gap's minutes (a restart's missed ones)."""
        return await self.rest.klines_1m(gap.symbol, gap.gap_start, gap.gap_end)

    async def trades(self, gap: Gap) -> list[Trade]:
        """The gap's trades from REST, by id; the first one found by time when not yet known."""
        stream = self.stream
        if stream == "trade" and gap.t_hi - gap.t_lo < AGG_WINDOW_MS:
            return await self._aggregated(gap)
        if gap.lo_seq is None:
            first = await self.rest.first_in(gap.symbol, gap.t_lo, gap.t_hi)
            if first is None:
                return []
            seq0 = first.seq if stream == "aggTrade" else first.first_id
            if seq0 > gap.hi_seq:
                return []
            gap.lo_seq, gap.first_missing_trade_id = seq0, first.first_id
        self._check_size(gap.lo_seq, gap.hi_seq)
        return await self._by_id(gap.symbol, stream, gap.lo_seq, gap.hi_seq)

    def _check_size(self, first: int, last: int) -> None:
        size = last - first + 1
        if size > self.max_trades:
            raise GiveUp(f"{size} missing ids exceed STREAMER_REPAIR_MAX_TRADES; left to heal-gaps")

    async def _by_id(self, symbol: str, stream: str, first: int, last: int) -> list[Trade]:
        """Records first..last by their sequence id (historicalTrades or aggTrades ``fromId``),
        every id present; RestUnavailable when REST has not got them all yet."""
        out: list[Trade] = []
        nxt = first
        while nxt <= last:
            page = await self.rest.by_id(symbol, stream, nxt, min(PAGE, last - nxt + 1))
            page = [t for t in page if t.seq >= nxt]
            if not page or page[0].seq != nxt:
                raise RestUnavailable(f"REST has no {symbol} id {nxt} yet")
            for t in page:
                if t.seq > last:
                    break
                if t.seq != nxt:
                    raise RestUnavailable(f"REST skipped {symbol} id {nxt}")
                out.append(t)
                nxt += 1
        return out

    async def _aggregated(self, gap: Gap) -> list[Trade]:
        """A trade-stream gap's trades as Binance's aggregates of them, asked by time (4 weight
        per 1,000 aggregates; historicalTrades costs 25 per 1,000 trades). An aggregate's
        trades share price, side and time, so it folds into a candle exactly as its trades
        would; one that straddles the gap's edge is asked for its raw trades instead."""
        rest, symbol, hi, nxt = self.rest, gap.symbol, gap.hi_seq, gap.lo_seq
        if nxt is not None:
            self._check_size(nxt, hi)
        page = await rest.get_aggs_between(symbol, gap.t_lo, gap.t_hi)
        aggs = list(page)
        while len(page) == PAGE and page[-1].last_id < hi:
            page = await rest.by_id(symbol, "aggTrade", page[-1].seq + 1)
            aggs += page
        out: list[Trade] = []
        for a in aggs:
            if a.first_id > hi:
                break
            if nxt is not None and a.last_id < nxt:
                continue
            if nxt is None:
                # A startup gap: the window's first aggregate is where the minute's ids begin.
                nxt = gap.lo_seq = gap.first_missing_trade_id = a.first_id
                self._check_size(nxt, hi)
            if a.first_id > nxt:
                raise RestUnavailable(f"REST has no {symbol} trade id {nxt} yet")
            if a.first_id < nxt or a.last_id > hi:
                out += await self._by_id(symbol, "trade", nxt, min(a.last_id, hi))
            else:
                first, last = a.first_id, a.last_id
                out.append(
                    Trade(symbol, last, first, last, a.price, a.qty, a.time_ms, a.buyer_maker)
                )
            nxt = min(a.last_id, hi) + 1
        if nxt is not None and nxt <= hi:
            raise RestUnavailable(f"REST has no {symbol} trade id {nxt} yet")
        return out


class KlinesFirst:
    """Klines work under way (a batch of seeds, one klines fetch), which a startup gap's trades
    (weight 4 a page) are fetched after. They lie in the minute the stream began, which cannot
    close before it ends anyway, while the klines close every minute missed before this start
    (2 weight each symbol). At ALL the startup gaps' pages took 90% of the first window's
    weight and left half the missed minutes to the next one (docs/scaling.md, a restart at
    ALL)."""

    def __init__(self, wait_at_most: float) -> None:
        self.wait_at_most = wait_at_most
        self._under_way = 0
        self._done = asyncio.Event()
        self._done.set()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        """Mark klines work under way while the block runs."""
        self._under_way += 1
        self._done.clear()
        try:
            yield
        finally:
            self._under_way -= 1
            if self._under_way == 0:
                self._done.set()

    async def wait(self) -> None:
        """Wait until no klines work is under way, wait_at_most seconds at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), self.wait_at_most)
