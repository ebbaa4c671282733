"""The marts compared with Binance's own klines."""

from __future__ import annotations

from tests.support.dbt import MARTS, from_ms, kline_values, mart_rows, official


def assert_equals_official(conn, market, symbol, start, end) -> None:
    """Every mart of ``symbol`` over [start, end) equals the official klines of its interval."""
    for tf in MARTS:
        expected = {
            from_ms(k.open_time): kline_values(k) for k in official(market, symbol, tf, start, end)
        }
        ours = mart_rows(conn, tf)
        got = {
            key[1]: row for key, row in ours.items() if key[0] == symbol and start <= key[1] < end
        }
        assert got == expected, f"{symbol} {tf}"
