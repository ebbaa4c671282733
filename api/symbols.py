"""The symbols the platform holds, cached briefly so a request costs no extra query."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api.binance import BinanceError
from api.market_reads import SymbolInfo, fetch_symbols
from api.precision import Places, places_of
from include.platform import markets as markets_of
from include.platform.intervals import SECOND, UnknownGrid, grid_offset
from include.platform.markets import SPOT, Market

# Binance's first kline (2017-07-14): no symbol has a minute before it.
EARLIEST_MS = 1_500_004_800_000

log = logging.getLogger("api.symbols")


class SymbolCache:
    """Symbols from the database, refreshed after ``ttl`` seconds or on an unknown name, and
    the configured ones (SYMBOLS) from the start: a client that loads its markets once, at
    start (ccxt), sees each of them before its first candle exists, as Binance lists it."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        ttl: float,
        second_symbols: frozenset[str] = frozenset(),
        configured: frozenset[str] = frozenset(),
        market: Market = SPOT,
    ) -> None:
        self.pool = pool
        # Whose symbols: spot's, or a futures market's (its own schema).
        self.market = market
        self.ttl = ttl
        # SECOND_CANDLE_SYMBOLS: the only symbols with 1s candles (the streamer keeps them).
        self.second_symbols = second_symbols
        self.configured = configured
        self.symbols: tuple[str, ...] = ()
        self.known: frozenset[str] = frozenset()
        self.info: dict[str, SymbolInfo] = {}
        # A futures contract's decimal places, from its filters (api/precision.py).
        self.contract_places: dict[str, Places] = {}
        self.loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Read the symbol list again."""
        async with self._lock:
            async with self.pool.connection() as conn:
                symbols = await fetch_symbols(conn, self.market)
            info = {s.symbol: s for s in symbols}
            # What exchangeInfo never described yet: TRADING, its assets split by quote suffix.
            info |= {s: SymbolInfo(s, None, None, None) for s in self.configured if s not in info}
            self.info = dict(sorted(info.items()))
            if self.market.is_futures:
                self.contract_places = {
                    s.symbol: p
                    for s in symbols
                    if (p := places_of(s.filters, self.market.inverse)) is not None
                }
            self.symbols = tuple(self.info)
            self.known = frozenset(self.info)
            self.loaded_at = time.monotonic()

    async def keep_fresh(self, stop: asyncio.Event) -> None:
        """Re-read the list every ``ttl`` seconds until ``stop``: the live push reads it
        (``grid``: a 3d stream needs the symbol's first day) without a request to refresh it,
        so a first day recorded after a WebSocket-only client subscribed reaches its push."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.ttl)
                return
            if time.monotonic() - self.loaded_at < self.ttl:
                continue
            try:
                await self.refresh()
            except Exception as exc:  # the next round tries again; requests refresh on their own
                log.warning("could not re-read the symbols: %s", exc)

    async def all(self) -> tuple[str, ...]:
        """Every symbol, fresh within ``ttl``."""
        if time.monotonic() - self.loaded_at > self.ttl:
            await self.refresh()
        return self.symbols

    async def described(self) -> list[SymbolInfo]:
        """Every symbol with what exchangeInfo last said of it, fresh within ``ttl``."""
        if time.monotonic() - self.loaded_at > self.ttl:
            await self.refresh()
        return [self.info[s] for s in self.symbols]

    def grid(self, symbol: str, interval: str, offset_ms: int = 0) -> int:
        """The offset the symbol's ``interval`` candles are read with: the zone's, and its own
        3d grid (include/platform/intervals.py); UnknownGrid for 3d before its first day is
        known, and for 1s unless the symbol is one of SECOND_CANDLE_SYMBOLS. From the cached
        list: call after ``has``."""
        if interval == SECOND and symbol not in self.second_symbols:
            raise UnknownGrid("1s candles are kept for SECOND_CANDLE_SYMBOLS only")
        info = self.info.get(symbol)
        return grid_offset(interval, offset_ms, info.first_day_ms if info else None)

    def places(self, symbol: str) -> Places | None:
        """A futures contract's decimal places as Binance prints its candles; None for spot's
        symbols (8 places) and a contract whose filters were never read."""
        return self.contract_places.get(symbol)

    def first_ms(self, symbol: str) -> int:
        """The oldest minute a live notification may name for a symbol: its first day at
        Binance when known, else Binance's first kline. A symbol the cached list lacks gets
        the latter too: the list lags a new listing's first minutes by up to ``ttl``, and a
        symbol not held has no rows for the push to read."""
        info = self.info.get(symbol)
        first_day = info.first_day_ms if info is not None else None
        return first_day if first_day is not None else EARLIEST_MS

    async def require(self, symbol: str) -> None:
        """Binance's -1121 for a symbol not held (``has``)."""
        if not await self.has(symbol):
            raise BinanceError(400, -1121, "Invalid symbol.")

    async def has(self, symbol: str) -> bool:
        """Is the symbol held? A miss re-reads at most once a second (new listings)."""
        if symbol in self.known and time.monotonic() - self.loaded_at <= self.ttl:
            return True
        if symbol not in self.known and time.monotonic() - self.loaded_at < 1.0:
            return False
        await self.refresh()
        return symbol in self.known


async def warm_symbols(conn: AsyncConnection, markets: Sequence[str]) -> None:
    """Read each market's symbol list once on a new connection (the pool's ``configure``): its
    generic plan over every partition (fetch_symbols), 50 ms over a year of history, is then
    made before a request needs it. Only a head start: a failure is left to the first read."""
    try:
        for name in markets:
            await fetch_symbols(conn, markets_of.market(name))
    except Exception as exc:  # a connection that cannot read them serves as it would have
        log.debug("symbols warm-up stopped: %s", exc)
