"""The 24-hour ticker (/api/v3/ticker/24hr) of the fake market, kept minute by minute.

Binance answers it from memory for every symbol at once (weight 80 for all of them), which is
how a client learns every symbol's last trade id in one request. Its window opens on the minute
24 hours before the request and closes at the request ("openTime always starts on a minute,
closeTime is the current time of the request"). Here each symbol's per-minute statistics of
that day are kept and moved along as the clock advances: the first answer for a symbol costs
its day of trades (about a minute of CPU for all of ALL, so callers run this off the event
loop), every later one only the minutes since.

There is no order book in the fake: bid and ask are the last price with zero quantity, as the
platform's own API answers them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from fakebinance.config import SymbolSpec
from fakebinance.market import Market
from fakebinance.market.units import DAY_MIN, MINUTE_US, fmt8

# Minutes kept before the window: the previous close is found there without a search.
MARGIN_MIN = 60
KEPT = ("count", "open", "close", "high", "low", "volume", "quote")
PERCENT = Decimal("0.001")
UNIT = Decimal("0.00000001")

MINI = (
    "symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
    "openTime", "closeTime", "firstId", "lastId", "count",
)  # fmt: skip
FULL = (
    "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
    "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice",
    "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
    "lastId", "count",
)  # fmt: skip


@dataclass
class _Window:
    """One symbol's kept minutes [first, end) and the spec they were computed under."""

    spec: SymbolSpec
    first: int
    end: int
    cols: dict[str, np.ndarray]


class DayTickers:
    """Rolling 24-hour statistics per symbol; thread-safe, one computation at a time."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def answer(self, symbols: list[str], now_us: int, shape: tuple[str, ...]) -> list[dict]:
        """The tickers of ``symbols`` at ``now_us`` in ``shape`` (MINI or FULL)."""
        with self._lock:
            rows = []
            for s in symbols:
                # Checked per symbol: all of ALL takes about a minute on a cold start, and
                # interpreter exit waits for this thread.
                if self._closed.is_set():
                    raise RuntimeError("the fake exchange is stopping")
                rows.append(self._ticker(s, now_us, shape))
            return rows

    def close(self) -> None:
        """Make a computation under way give up, so stopping the fake does not wait for it."""
        self._closed.set()

    def warm(self) -> None:
        """Keep every listed symbol's day now: the first answer for all of them costs the most."""
        now_us = self.market.clock.now_us()
        listed = [s for s in self.market.symbols if self.market.is_listed(s, now_us)]
        self.answer(listed, now_us, MINI)

    def _minutes(self, symbol: str, first: int, end: int) -> dict[str, np.ndarray]:
        """Columns of minutes [first, end), from the kept window where it has them."""
        spec = self.market.spec(symbol)
        w = self._windows.get(symbol)
        if w is None or w.spec is not spec or not (w.first <= first <= w.end):
            w = _Window(spec, first, first, {k: np.zeros(0, dtype=np.int64) for k in KEPT})
        if end > w.end:
            # Minutes already over: their blocks are the feed's, so keep them cached.
            new = self.market.minute_columns(symbol, w.end, end, keep=end - w.end <= MARGIN_MIN)
            w.cols = {k: np.concatenate([w.cols[k], new[k]]) for k in KEPT}
            w.end = end
        if first > w.first:
            w.cols = {k: v[first - w.first :] for k, v in w.cols.items()}
            w.first = first
        self._windows[symbol] = w
        upto = end - w.first
        return {k: v[:upto] for k, v in w.cols.items()}

    def _ticker(self, symbol: str, now_us: int, shape: tuple[str, ...]) -> dict:
        now_min = now_us // MINUTE_US
        open_min = now_min - DAY_MIN
        kept = self._minutes(symbol, open_min - MARGIN_MIN, now_min)
        before = {k: v[:MARGIN_MIN] for k, v in kept.items()}
        day = {k: v[MARGIN_MIN:] for k, v in kept.items()}
        running = self.market.trade_arrays(symbol, now_min * MINUTE_US, now_us + 1)
        traded = np.nonzero(day["count"])[0]
        count = int(day["count"].sum()) + len(running.ids)
        last = self.market.last_trade_before(symbol, now_us + 1)
        prev = _prev_close(self.market, symbol, before, open_min)
        if count:
            highs = [int(day["high"][traded].max())] if len(traded) else []
            lows = [int(day["low"][traded].min())] if len(traded) else []
            if len(running.ids):
                highs.append(int(running.price.max()))
                lows.append(int(running.price.min()))
            open_ = int(day["open"][traded[0]]) if len(traded) else int(running.price[0])
            high, low = max(highs), min(lows)
            volume = int(day["volume"].sum()) + int(running.qty.sum())
            quote = int(day["quote"].sum()) + int(running.quote.sum())
            assert last is not None
            last_price, last_id = _units(last.price), last.id
            first_id = last_id - count + 1
        else:
            # Nothing traded in the day: Binance's -1 ids; prices stay at the last one known.
            known = prev if last is None else _units(last.price)
            open_ = high = low = last_price = known if known is not None else 0
            volume = quote = 0
            first_id = last_id = -1
        change = last_price - open_
        values = {
            "symbol": symbol,
            "priceChange": fmt8(change),
            "priceChangePercent": str(
                (Decimal(change) * 100 / Decimal(open_)).quantize(PERCENT, ROUND_HALF_UP)
                if open_
                else Decimal("0.000")
            ),
            "weightedAvgPrice": fmt8(_ratio_units(quote, volume)),
            "prevClosePrice": fmt8(prev if prev is not None else open_),
            "lastPrice": fmt8(last_price),
            "lastQty": fmt8(_units(last.qty)) if count and last is not None else fmt8(0),
            "bidPrice": fmt8(last_price),
            "bidQty": fmt8(0),
            "askPrice": fmt8(last_price),
            "askQty": fmt8(0),
            "openPrice": fmt8(open_),
            "highPrice": fmt8(high),
            "lowPrice": fmt8(low),
            "volume": fmt8(volume),
            "quoteVolume": fmt8(quote),
            "openTime": open_min * 60_000,
            "closeTime": now_us // 1000,
            "firstId": first_id,
            "lastId": last_id,
            "count": count,
        }
        return {name: values[name] for name in shape}


def _units(value: Decimal) -> int:
    return int(value.scaleb(8))


def _ratio_units(quote: int, volume: int) -> int:
    """quote / volume in 1e-8 units, rounded half up (0 without volume)."""
    if not volume:
        return 0
    return _units((Decimal(quote) / Decimal(volume)).quantize(UNIT, ROUND_HALF_UP))


def _prev_close(market: Market, symbol: str, before: dict, open_min: int) -> int | None:
    """The last price before the window: from the kept margin, else searched back."""
    traded = np.nonzero(before["count"])[0]
    if len(traded):
        return int(before["close"][traded[-1]])
    trade = market.last_trade_before(symbol, open_min * MINUTE_US)
    return None if trade is None else _units(trade.price)
