"""Trade queries: raw trades and aggTrades by time range or from an id, and the last or next
trade around a time, cut from the generated blocks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fakebinance.market.blocks import BLOCK_MIN, BLOCK_US, BLOCKS_PER_DAY, Block, BlockSource
from fakebinance.market.records import (
    AggArrays,
    AggTrade,
    Trade,
    TradeArrays,
    aggs_from_arrays,
    concat,
    trades_from_arrays,
)
from fakebinance.market.symbol_state import SymbolState
from fakebinance.market.units import DAY_MIN, MINUTE_US


class TradeQueries(BlockSource):
    """Trades and aggTrades as Binance's REST and streams ask for them."""

    def trade_arrays(
        self, symbol: str, start_us: int, end_us: int, keep: bool = True
    ) -> TradeArrays:
        """Raw trades with ``start_us <= time < end_us`` as columns."""
        return self._window(symbol, start_us, end_us, keep, "t_us", self._trade_slice, TradeArrays)

    def _trade_slice(self, st: SymbolState, b: Block, i: int, j: int) -> TradeArrays:
        return TradeArrays(
            np.arange(b.trade_base + i, b.trade_base + j, dtype=np.int64),
            b.ticks[i:j] * st.ticks_to_units,
            b.lots[i:j] * st.lots_to_units,
            b.quote[i:j],
            b.t_us[i:j],
            b.maker[i:j],
        )

    def agg_arrays(self, symbol: str, start_us: int, end_us: int, keep: bool = True) -> AggArrays:
        """Aggregate trades with ``start_us <= time < end_us`` as columns."""
        return self._window(symbol, start_us, end_us, keep, "order_t", self._agg_slice, AggArrays)

    def _window(
        self,
        symbol: str,
        start_us: int,
        end_us: int,
        keep: bool,
        times: str,
        cut: Callable[[SymbolState, Block, int, int], TradeArrays | AggArrays],
        kind: type,
    ) -> TradeArrays | AggArrays:
        """The rows whose ``times`` (a Block field) fall in [start_us, end_us), as ``kind``."""
        # ``cut`` takes rows i:j of a block as columns.
        st = self._sym(symbol)
        parts = []
        if end_us > start_us:
            for block in self._blocks_in(start_us, end_us):
                b = self._block(st, block, keep)
                t = getattr(b, times)
                i = int(np.searchsorted(t, start_us, "left"))
                j = int(np.searchsorted(t, end_us, "left"))
                if j > i:
                    parts.append(cut(st, b, i, j))
        return concat(parts, kind)

    def _agg_slice(self, st: SymbolState, b: Block, i: int, j: int) -> AggArrays:
        first = b.trade_base + b.order_first[i:j]
        return AggArrays(
            np.arange(b.agg_base + i, b.agg_base + j, dtype=np.int64),
            b.order_ticks[i:j] * st.ticks_to_units,
            b.order_lots[i:j] * st.lots_to_units,
            first,
            first + b.order_size[i:j] - 1,
            b.order_t[i:j],
            b.order_maker[i:j],
        )

    def trades(self, symbol: str, start_us: int, end_us: int) -> list[Trade]:
        """Raw trades with ``start_us <= time < end_us``, in id order."""
        return trades_from_arrays(self.trade_arrays(symbol, start_us, end_us))

    def agg_trades(self, symbol: str, start_us: int, end_us: int) -> list[AggTrade]:
        """Aggregate trades with ``start_us <= time < end_us``, in id order."""
        return aggs_from_arrays(self.agg_arrays(symbol, start_us, end_us))

    def _block_of_id(self, st: SymbolState, ident: int, upto_us: int, aggs: bool) -> int | None:
        """Block holding trade (or agg) id ``ident``; None if no such id exists by ``upto_us``."""
        last_day = upto_us // (DAY_MIN * MINUTE_US)
        if last_day < st.day0:
            return None
        self._ensure_prefix(st, last_day + 1)
        cum = st.cum_o if aggs else st.cum_n
        idx = int(np.searchsorted(cum, ident, "right")) - 1
        if idx >= len(cum) - 1:
            return None
        day = st.day0 + max(idx, 0)
        o, n, mask = self._day_counts(st, day)
        per_block = np.where(mask, o if aggs else n, 0).reshape(BLOCKS_PER_DAY, BLOCK_MIN)
        offset = ident - int(cum[max(idx, 0)])
        index = int(np.searchsorted(np.cumsum(per_block.sum(axis=1)), offset, "right"))
        return day * BLOCKS_PER_DAY + min(index, BLOCKS_PER_DAY - 1)

    def trades_from_id(
        self, symbol: str, from_id: int, limit: int, upto_us: int | None = None
    ) -> TradeArrays:
        """Up to ``limit`` raw trades with id >= ``from_id`` and time <= ``upto_us`` (now)."""
        return self._from_id(symbol, from_id, limit, upto_us, aggs=False)

    def agg_trades_from_id(
        self, symbol: str, from_id: int, limit: int, upto_us: int | None = None
    ) -> AggArrays:
        """Up to ``limit`` aggTrades with id >= ``from_id`` and time <= ``upto_us`` (now)."""
        return self._from_id(symbol, from_id, limit, upto_us, aggs=True)

    def _from_id(self, symbol: str, from_id: int, limit: int, upto_us: int | None, aggs: bool):
        st = self._sym(symbol)
        upto = self.clock.now_us() if upto_us is None else upto_us
        kind = AggArrays if aggs else TradeArrays
        block = self._block_of_id(st, max(0, from_id), upto, aggs)
        parts: list = []
        got = 0
        while block is not None and got < limit and block * BLOCK_US <= upto:
            b = self._block(st, block)
            base = b.agg_base if aggs else b.trade_base
            times = b.order_t if aggs else b.t_us
            i = max(0, from_id - base)
            j = min(len(times), int(np.searchsorted(times, upto, "right")), i + limit - got)
            if j > i:
                part = self._agg_slice(st, b, i, j) if aggs else self._trade_slice(st, b, i, j)
                parts.append(part)
                got += j - i
            block += 1
        return concat(parts, kind)

    def last_trade_before(self, symbol: str, before_us: int) -> Trade | None:
        """The last raw trade with time < ``before_us`` (searching back to the listing)."""
        st = self._sym(symbol)
        got = self._last_before(st, before_us)
        return None if got is None else self._trade_at(st, *got)

    def _trade_at(self, st: SymbolState, b: Block, idx: int) -> Trade:
        """Raw trade ``idx`` of block ``b``."""
        return trades_from_arrays(self._trade_slice(st, b, idx, idx + 1))[0]

    def next_trade_time(self, symbol: str, after_us: int, horizon_hours: int = 6) -> int | None:
        """Time of the first trade later than ``after_us`` (None if none within the horizon)."""
        st = self._sym(symbol)
        first = after_us // BLOCK_US
        for block in range(first, first + horizon_hours * 60 // BLOCK_MIN):
            b = self._block(st, block)
            i = int(np.searchsorted(b.t_us, after_us, "right"))
            if i < len(b.t_us):
                return int(b.t_us[i])
        return None

    def last_agg_id_before(self, symbol: str, before_us: int) -> int | None:
        """Id of the last aggTrade with time < ``before_us``; None if there is none."""
        got = self._last_before(self._sym(symbol), before_us)
        return None if got is None else _agg_id_of(*got)

    def _last_before(self, st: SymbolState, before_us: int) -> tuple[Block, int] | None:
        # The block holding before_us first, then whole blocks backwards by counts.
        block = (before_us - 1) // BLOCK_US
        b = self._block(st, block)
        i = int(np.searchsorted(b.t_us, before_us, "left"))
        if i > 0:
            return b, i - 1
        block -= 1
        while block >= st.listing_min // BLOCK_MIN:
            day = block // BLOCKS_PER_DAY
            _, n, mask = self._day_counts(st, day)
            per_block = np.where(mask, n, 0).reshape(BLOCKS_PER_DAY, BLOCK_MIN).sum(axis=1)
            nz = np.nonzero(per_block[: block % BLOCKS_PER_DAY + 1])[0]
            if len(nz):
                b = self._block(st, day * BLOCKS_PER_DAY + int(nz[-1]), keep=False)
                return b, len(b.t_us) - 1
            block = day * BLOCKS_PER_DAY - 1
        return None


def _agg_id_of(b: Block, idx: int) -> int:
    """Id of the aggTrade that raw trade ``idx`` of block ``b`` belongs to."""
    return b.agg_base + int(np.searchsorted(b.order_first, idx, "right")) - 1
