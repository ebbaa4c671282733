"""COIN-M's base volumes: a minute an aggTrade of several fills touched closes with its kline's.

An inverse contract's kline sums each fill's base quantity (qty x size / price, rounded to 8
decimals); an aggTrade tells only its fills' total contracts, so where one held several fills
the streamer's own base volume may be a few 1e-8 off. Such minutes (InverseCandle.mixed) wait in
``Aggregator.unsettled``; once a minute, after the minutes are over, one klines request per
symbol (weight 2, in the futures' pool) brings their klines, whose base volumes close them. The
other columns stay the streamer's own (a kline that differs in them is taken whole and counted).
A minute REST cannot settle within SETTLE_GIVE_UP_MS stays written but not closed: restart
recovery and reconcile treat it as any unclosed minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

from include.platform.times import MINUTE_MS
from streamer.aggregator import Aggregator
from streamer.candle import Candle
from streamer.clock import ExchangeClock
from streamer.rest import RestClient, RestUnavailable

logger = logging.getLogger(__name__)

# After a minute ends, its kline is asked for this long later (Binance's is final by then).
SETTLE_DELAY_MS = 2_000
SETTLE_GIVE_UP_MS = 15 * MINUTE_MS


class BaseVolumes:
    """Settles the aggregator's mixed COIN-M minutes from their klines."""

    def __init__(self, aggregator: Aggregator, rest: RestClient, clock: ExchangeClock) -> None:
        self.aggregator = aggregator
        self.rest = rest
        self.clock = clock

    async def run(self) -> None:
        """Once a minute, SETTLE_DELAY_MS after it turns: settle what is over."""
        done = None
        while True:
            # Polled, not slept to the minute: until serverTime is read the clock is the host's
            # (it may be ahead, then step back), and a replay runs it faster than wall time.
            await asyncio.sleep(1.0)
            minute = (self.clock.now_ms() - SETTLE_DELAY_MS) // MINUTE_MS
            if self.clock.synced and minute != done:
                done = minute
                await self.settle_once()

    async def settle_once(self) -> int:
        """Settle every unsettled minute that is over; returns how many were."""
        aggregator = self.aggregator
        now_ms = self.clock.now_ms()
        due: dict[str, list[Candle]] = defaultdict(list)
        for c in aggregator.unsettled:
            if c.open_time + MINUTE_MS + SETTLE_DELAY_MS <= now_ms:
                due[c.symbol].append(c)
        settled: set[int] = set()
        for symbol, candles in due.items():
            first, last = candles[0].open_time, candles[-1].open_time
            try:
                klines = await self.rest.klines_1m(symbol, first, last + MINUTE_MS)
                official = {k.open_time: k for k in aggregator.official(symbol, klines)}
            except (RestUnavailable, ValueError) as exc:
                logger.warning("klines to settle %s's base volumes failed: %s", symbol, exc)
                continue
            for c in candles:
                kline = official.get(c.open_time)
                if kline is not None:
                    aggregator.settle(c, kline, time.monotonic())
                    settled.add(id(c))
        horizon = now_ms - SETTLE_GIVE_UP_MS
        left = []
        for c in aggregator.unsettled:
            if id(c) in settled:
                continue
            if c.open_time < horizon:
                logger.warning(
                    "%s minute %d: no kline to settle its base volume; left unclosed",
                    c.symbol,
                    c.open_time,
                )
                continue
            left.append(c)
        aggregator.unsettled = left
        return len(settled)
