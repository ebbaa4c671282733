"""BTCUSDT's official minutes for the read API's tests, as the SQL that writes them into
market.klines_1m from 2025-01-01 00:00 UTC."""

from __future__ import annotations

INSERT = """
insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, quote_volume,
    trade_count, taker_buy_volume, taker_buy_quote_volume, source)"""


def flat_minutes(minutes: int) -> str:
    """``minutes`` minutes of one same candle (100, 101, 99, 100.5; volume 2, 3 trades)."""
    return f"""{INSERT}
select 'BTCUSDT', t, 100, 101, 99, 100.5, 2, 201, 3, 1, 100.5, 'rest'
from generate_series(timestamptz '2025-01-01',
    timestamptz '2025-01-01' + interval '{minutes - 1} minutes', interval '1 minute') as t
"""


def varying_minutes(minutes: int) -> str:
    """``minutes`` minutes whose values change every minute, so a wrong first, last, max, min
    or sum shows; 8-decimal prices and quantities, as Binance's."""
    return f"""{INSERT}
select 'BTCUSDT', t, o, o + 1.25, o - 0.75, o + (n % 7 - 3) * 0.01, v, round(v * o, 8), n % 50,
    round(v / 3, 8), round(v * o / 3, 8), 'rest'
from (
    select t, n, 93500.12345678 + (n * 37 % 101) * 0.5 as o, 0.00012345 * (n % 13 + 1) as v
    from generate_series(0, {minutes - 1}) as n,
        lateral (select timestamptz '2025-01-01' + n * interval '1 minute' as t) as minute
) as m
"""
