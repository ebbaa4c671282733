"""What a klines request asks (Binance's parameters, validated) and the rows it is answered with."""

from __future__ import annotations

from dataclasses import dataclass

# A kline row as /api/v3/klines needs it: open time, nine values (decimals as Binance strings).
Row = tuple[int, str, str, str, str, str, str, int, str, str]


@dataclass(frozen=True)
class KlinesRequest:
    """Binance's klines parameters, validated: open times in [start_ms, end_ms]."""

    symbol: str
    interval: str
    start_ms: int | None
    end_ms: int | None
    limit: int
    # Binance's timeZone: the intervals are read in the zone this far ahead of UTC.
    offset_ms: int = 0
    # The market whose candles answer (include/platform/markets.py): spot's, or a futures
    # market's /fapi and /dapi klines from its own schemas.
    market: str = "spot"
