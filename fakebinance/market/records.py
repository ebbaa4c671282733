"""What the market hands out: trades, aggTrades and klines as objects (Decimal, as Binance
describes them) and as numpy columns (ints in 1e-8 units), and the conversions between them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from fakebinance.market.units import dec8


@dataclass(frozen=True, slots=True)
class Trade:
    """One raw trade, as /api/v3/historicalTrades describes it."""

    id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    time_us: int
    is_buyer_maker: bool
    is_best_match: bool = True

    @property
    def time_ms(self) -> int:
        """Trade time in ms, as REST and WebSocket report it."""
        return self.time_us // 1000


@dataclass(frozen=True, slots=True)
class AggTrade:
    """One aggregate trade: raw trades ``first_id..last_id`` of one taker order at one price."""

    agg_id: int
    price: Decimal
    qty: Decimal
    first_id: int
    last_id: int
    time_us: int
    is_buyer_maker: bool
    is_best_match: bool = True

    @property
    def time_ms(self) -> int:
        """Trade time in ms."""
        return self.time_us // 1000


@dataclass(frozen=True, slots=True)
class Kline:
    """One kline, fields as Binance names them; times in ms."""

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

    def to_rest_row(self) -> list:
        """The row exactly as /api/v3/klines returns it."""
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


class TradeArrays(NamedTuple):
    """Raw trades as columns; price/qty/quote in 1e-8 units."""

    ids: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    quote: np.ndarray
    time_us: np.ndarray
    buyer_maker: np.ndarray


class AggArrays(NamedTuple):
    """Aggregate trades as columns; price/qty in 1e-8 units."""

    ids: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    first_id: np.ndarray
    last_id: np.ndarray
    time_us: np.ndarray
    buyer_maker: np.ndarray


class MinuteStats(NamedTuple):
    """Per-minute kline columns of one UTC day (1440 entries); money in 1e-8 units."""

    has: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote: np.ndarray
    count: np.ndarray
    taker_volume: np.ndarray
    taker_quote: np.ndarray


def concat(parts: list, kind: type) -> NamedTuple:
    """Column sets of one kind (TradeArrays or AggArrays) joined end to end; empty ones if none."""
    if not parts:
        dtypes = [bool if f in ("buyer_maker",) else np.int64 for f in kind._fields]
        return kind(*(np.zeros(0, dtype=d) for d in dtypes))
    if len(parts) == 1:
        return parts[0]
    return kind(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))


def trades_from_arrays(a: TradeArrays) -> list[Trade]:
    """Columns -> Trade objects."""
    return _records(Trade, a, ("price", "qty", "quote"))


def aggs_from_arrays(a: AggArrays) -> list[AggTrade]:
    """Columns -> AggTrade objects."""
    return _records(AggTrade, a, ("price", "qty"))


def _records(make: type, columns: NamedTuple, money: tuple[str, ...]) -> list:
    """``make(*row)`` for each row of ``columns``, the ``money`` ones (1e-8 units) as Decimal."""
    lists = [
        [dec8(v) for v in col.tolist()] if name in money else col.tolist()
        for name, col in zip(columns._fields, columns, strict=True)
    ]
    return [make(*row) for row in zip(*lists, strict=True)]
