"""A new connection runs its statements once before it serves: the first request of an interval
(a klines connection), or the first read of the symbol list (the others), on a connection
otherwise paid their generic plans over every monthly partition (about 230 ms for 1m, 70 ms for
1h and 50 ms for the symbol list over a year of history, bench/api_bench.py's cold path)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from psycopg import AsyncConnection

from api.klines.execute import fetch_klines
from api.klines.request import KlinesRequest
from api.market_reads import fetch_symbols
from include.platform import markets as markets_of
from include.platform.intervals import STORED

logger = logging.getLogger(__name__)

# No market lists it: the statements run as a request's would and find nothing.
NO_SYMBOL = "-"
# Binance's default limit: the statements' texts do not depend on it.
LIMIT = 500


async def warm(conn: AsyncConnection, markets: Sequence[str]) -> None:
    """Run each stored interval's newest-candles statements of each market once on ``conn``.
    Only a head start: whatever fails is left to the first request, as without it."""
    try:
        for market in markets:
            for interval in STORED:
                await fetch_klines(
                    conn, KlinesRequest(NO_SYMBOL, interval, None, None, LIMIT, 0, market)
                )
    except Exception as exc:  # a connection that cannot plan them serves as it would have
        logger.debug("klines warm-up stopped: %s", exc)


async def warm_symbols(conn: AsyncConnection, markets: Sequence[str]) -> None:
    """Read each market's symbol list once on ``conn`` (SymbolCache's read), as ``warm``."""
    try:
        for market in markets:
            await fetch_symbols(conn, markets_of.market(market))
    except Exception as exc:  # a connection that cannot read them serves as it would have
        logger.debug("symbols warm-up stopped: %s", exc)
