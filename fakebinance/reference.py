"""Oracle: official Binance klines from trades, written for clarity with decimal.Decimal only.

This module deliberately shares no code with the fake market or with any product aggregator;
tests compare everything else against it: the fake's served klines (market/klines.py's fast
numpy path) and every product path (dumps, REST backfill, streamer, dbt). Entry points:

- ``official_klines(trades, interval, start_ms, end_ms, trading=..., prev_close=...)``: the
  klines of a list of raw trades;
- ``oracle_klines(market, symbol, start_ms, end_ms, interval)``: the same for a fake market's
  symbol, as of its clock, reading only its trades and its listing/halt schedule.

It follows docs/BINANCE.md:

- a trade belongs to the minute with ``open_time <= time < open_time + 60 s``;
- open/close = first/last trade by id, high/low = max/min price, volume = sum(qty),
  quote_volume = sum(price * qty), trade_count = raw trades, taker_buy_* over ``m == False``;
- an idle minute while trading repeats the previous close with zero volumes;
- a minute that does not trade (before listing, inside a halt) has no kline at all;
- higher intervals merge 1m klines: UTC epoch multiples, 3d every three days from the symbol's
  first day of trading (its own grid, as real 3d klines show), weeks from Monday, calendar
  months; a bucket without any 1m kline has no row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

logger = logging.getLogger(__name__)

MINUTE_MS = 60_000
FIXED_INTERVAL_MS = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "2h": 2 * 60 * MINUTE_MS,
    "4h": 4 * 60 * MINUTE_MS,
    "6h": 6 * 60 * MINUTE_MS,
    "8h": 8 * 60 * MINUTE_MS,
    "12h": 12 * 60 * MINUTE_MS,
    "1d": 24 * 60 * MINUTE_MS,
    "3d": 3 * 24 * 60 * MINUTE_MS,
}
ZERO = Decimal(0)


class TradeLike(Protocol):
    """Anything with the fields of a raw trade (price/qty as Decimal, time in µs)."""

    id: int
    price: Decimal
    qty: Decimal
    time_us: int
    is_buyer_maker: bool


class SymbolSchedule(Protocol):
    """What the oracle needs of a symbol's spec: when it listed and when it halted."""

    listed_at: datetime
    halts: Sequence[tuple[datetime, datetime]]


class Clock(Protocol):
    """A market clock: only what it has passed exists."""

    def now_us(self) -> int:
        """Current market time in epoch µs."""
        ...


class TradeSource(Protocol):
    """The read side of a market the oracle uses: trades, and the symbol's schedule."""

    clock: Clock

    def spec(self, symbol: str) -> SymbolSchedule:
        """The symbol's listing time and halts."""
        ...

    def trades(self, symbol: str, start_us: int, end_us: int) -> Sequence[TradeLike]:
        """Raw trades with ``start_us <= time < end_us``."""
        ...

    def last_trade_before(self, symbol: str, before_us: int) -> TradeLike | None:
        """The last raw trade before ``before_us``, or None."""
        ...


@dataclass(frozen=True)
class RefKline:
    """A kline as the oracle computes it; times in ms."""

    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: int
    quote_volume: Decimal
    trade_count: int
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal

    def fields(self) -> tuple:
        """(open_time, open, high, low, close, volume, quote_volume, trade_count,
        taker_buy_volume, taker_buy_quote_volume): a candle table row's values."""
        # Not astuple: it deep-copies every Decimal, which a year of klines pays for in minutes.
        return (
            self.open_time,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.quote_volume,
            self.trade_count,
            self.taker_buy_volume,
            self.taker_buy_quote_volume,
        )

    def to_rest_row(self) -> list:
        """Row in /api/v3/klines form."""
        return [
            self.open_time,
            f"{self.open:.8f}",
            f"{self.high:.8f}",
            f"{self.low:.8f}",
            f"{self.close:.8f}",
            f"{self.volume:.8f}",
            self.close_time,
            f"{self.quote_volume:.8f}",
            self.trade_count,
            f"{self.taker_buy_volume:.8f}",
            f"{self.taker_buy_quote_volume:.8f}",
            "0",
        ]


def trading_predicate(
    listed_at: datetime, halts: Iterable[tuple[datetime, datetime]] = ()
) -> Callable[[int], bool]:
    """Predicate on a minute's open time (ms): listed by then and overlapping no halt."""
    listed_ms = int(listed_at.timestamp() * 1000)
    halt_ms = [(int(a.timestamp() * 1000), int(b.timestamp() * 1000)) for a, b in halts]

    def trading(open_ms: int) -> bool:
        if open_ms < listed_ms:
            return False
        overlaps = [start < open_ms + MINUTE_MS and open_ms < end for start, end in halt_ms]
        return not any(overlaps)

    return trading


def klines_1m(
    trades: Iterable[TradeLike],
    start_ms: int,
    end_ms: int,
    trading: Callable[[int], bool],
    prev_close: Decimal | None,
) -> list[RefKline]:
    """1m klines for the minutes opening in [start_ms, end_ms).

    ``trades`` must hold every trade of those minutes; ``prev_close`` is the price of the last
    trade before ``start_ms`` (None if there was none).
    """
    by_minute: dict[int, list[TradeLike]] = {}
    for trade in sorted(trades, key=lambda t: t.id):
        open_time = (trade.time_us // 1000) // MINUTE_MS * MINUTE_MS
        by_minute.setdefault(open_time, []).append(trade)

    result = []
    last_close = prev_close
    open_time = start_ms - start_ms % MINUTE_MS
    if open_time < start_ms:
        open_time += MINUTE_MS
    while open_time < end_ms:
        minute_trades = by_minute.get(open_time, [])
        if minute_trades:
            assert trading(open_time), f"trade inside a non-trading minute {open_time}"
            kline = _kline_from_trades(open_time, minute_trades)
            result.append(kline)
            last_close = kline.close
        elif trading(open_time) and last_close is not None:
            result.append(
                RefKline(
                    open_time,
                    last_close,
                    last_close,
                    last_close,
                    last_close,
                    ZERO,
                    open_time + MINUTE_MS - 1,
                    ZERO,
                    0,
                    ZERO,
                    ZERO,
                )
            )
        open_time += MINUTE_MS
    return result


def _kline_from_trades(open_time: int, trades: list[TradeLike]) -> RefKline:
    prices = [t.price for t in trades]
    volume = sum((t.qty for t in trades), ZERO)
    quote = sum((t.price * t.qty for t in trades), ZERO)
    takers = [t for t in trades if not t.is_buyer_maker]
    taker_volume = sum((t.qty for t in takers), ZERO)
    taker_quote = sum((t.price * t.qty for t in takers), ZERO)
    return RefKline(
        open_time=open_time,
        open=trades[0].price,
        high=max(prices),
        low=min(prices),
        close=trades[-1].price,
        volume=volume,
        close_time=open_time + MINUTE_MS - 1,
        quote_volume=quote,
        trade_count=len(trades),
        taker_buy_volume=taker_volume,
        taker_buy_quote_volume=taker_quote,
    )


def bucket_start_ms(interval: str, open_ms: int, first_day_ms: int = 0) -> int:
    """Open time of the ``interval`` bucket holding the minute opening at ``open_ms``
    (``first_day_ms``: the symbol's first day of trading, where its 3d grid starts)."""
    if interval in FIXED_INTERVAL_MS:
        size = FIXED_INTERVAL_MS[interval]
        origin = first_day_ms if interval == "3d" else 0
        return open_ms - (open_ms - origin) % size
    moment = datetime.fromtimestamp(open_ms / 1000, UTC)
    if interval == "1w":
        day = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        monday = day - timedelta(days=day.weekday())
        return int(monday.timestamp() * 1000)
    if interval == "1M":
        return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp() * 1000)
    raise ValueError(f"unknown interval {interval}")


def bucket_end_ms(interval: str, bucket_open_ms: int) -> int:
    """Open time of the bucket after the one opening at ``bucket_open_ms``."""
    if interval in FIXED_INTERVAL_MS:
        return bucket_open_ms + FIXED_INTERVAL_MS[interval]
    if interval == "1w":
        return bucket_open_ms + 7 * 24 * 60 * MINUTE_MS
    moment = datetime.fromtimestamp(bucket_open_ms / 1000, UTC)
    if moment.month == 12:
        following = datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    else:
        following = datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)
    return int(following.timestamp() * 1000)


def aggregate(
    minute_klines: Iterable[RefKline], interval: str, first_day_ms: int = 0
) -> list[RefKline]:
    """Merge 1m klines into ``interval`` klines (buckets without 1m klines are absent)."""
    groups: dict[int, list[RefKline]] = {}
    for kline in sorted(minute_klines, key=lambda k: k.open_time):
        groups.setdefault(bucket_start_ms(interval, kline.open_time, first_day_ms), []).append(
            kline
        )
    result = []
    for bucket_open, members in sorted(groups.items()):
        result.append(
            RefKline(
                open_time=bucket_open,
                open=members[0].open,
                high=max(k.high for k in members),
                low=min(k.low for k in members),
                close=members[-1].close,
                volume=sum((k.volume for k in members), ZERO),
                close_time=bucket_end_ms(interval, bucket_open) - 1,
                quote_volume=sum((k.quote_volume for k in members), ZERO),
                trade_count=sum(k.trade_count for k in members),
                taker_buy_volume=sum((k.taker_buy_volume for k in members), ZERO),
                taker_buy_quote_volume=sum((k.taker_buy_quote_volume for k in members), ZERO),
            )
        )
    return result


def first_bucket_ms(interval: str, start_ms: int, first_day_ms: int = 0) -> int:
    """Open time of the first ``interval`` bucket opening at or after ``start_ms``."""
    first = bucket_start_ms(interval, start_ms, first_day_ms)
    return first if first >= start_ms else bucket_end_ms(interval, first)


def official_klines(
    trades: Iterable[TradeLike],
    interval: str,
    start_ms: int,
    end_ms: int,
    *,
    trading: Callable[[int], bool],
    prev_close: Decimal | None,
    now_us: int | None = None,
    first_day_ms: int = 0,
) -> list[RefKline]:
    """The official ``interval`` klines opening in [start_ms, end_ms).

    ``trades`` must hold every trade of those buckets; ``prev_close`` is the price of the last
    trade before the first of them. With ``now_us`` only what happened up to then counts: the
    bucket holding it is the unfinished current kline and later ones do not exist yet.
    """
    first = first_bucket_ms(interval, start_ms, first_day_ms)
    minutes_end = _cover_end_ms(interval, first, end_ms, first_day_ms)
    if now_us is not None:
        now_ms = now_us // 1000
        minutes_end = min(minutes_end, now_ms - now_ms % MINUTE_MS + MINUTE_MS)
        trades = [t for t in trades if t.time_us <= now_us]
    minutes = klines_1m(trades, first, minutes_end, trading, prev_close)
    return [
        k for k in aggregate(minutes, interval, first_day_ms) if start_ms <= k.open_time < end_ms
    ]


def oracle_klines(
    market: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    interval: str = "1m",
    *,
    closed_only: bool = False,
    trading: Callable[[int], bool] | None = None,
) -> list[RefKline]:
    """The official klines of ``symbol`` opening in [start_ms, end_ms), as of the market clock.

    Reads only the market's trades and the symbol's listing and halts (pass ``trading`` for a
    halt made at runtime, which the spec does not hold). ``closed_only`` drops the unfinished
    current kline, as a backfill or a dump never holds it.
    """
    now_us = market.clock.now_us()
    spec = market.spec(symbol)
    trading = trading or trading_predicate(spec.listed_at, spec.halts)
    # The day of its first trading minute: where its 3d grid starts.
    listed_ms = int(spec.listed_at.timestamp() * 1000)
    first_minute_ms = -(-listed_ms // MINUTE_MS) * MINUTE_MS
    first_day_ms = first_minute_ms - first_minute_ms % (24 * 60 * MINUTE_MS)
    first = first_bucket_ms(interval, start_ms, first_day_ms)
    cover_us = _cover_end_ms(interval, first, end_ms, first_day_ms) * 1000
    trades = market.trades(symbol, first * 1000, min(cover_us, now_us + 1))
    prev = market.last_trade_before(symbol, first * 1000)
    klines = official_klines(
        trades,
        interval,
        start_ms,
        end_ms,
        trading=trading,
        prev_close=prev.price if prev else None,
        now_us=now_us,
        first_day_ms=first_day_ms,
    )
    if closed_only:
        return [k for k in klines if k.close_time < now_us // 1000]
    return klines


def _cover_end_ms(interval: str, first_ms: int, end_ms: int, first_day_ms: int = 0) -> int:
    """End of the last bucket opening before ``end_ms`` (at least the one at ``first_ms``)."""
    last = bucket_start_ms(interval, max(first_ms, end_ms - 1), first_day_ms)
    return bucket_end_ms(interval, last)
