"""SQL that fills market.klines_1m with synthetic symbols SYM0001USDT.. minute by minute."""

from __future__ import annotations


def synthetic_klines(values: str, per_minute: str) -> str:
    """An insert of every minute of [%(start)s, %(end)s) for symbols 1..%(symbols)s."""
    # ``per_minute`` (select-list lines) derives a minute's columns from its symbol's number
    # ``s`` and its epoch minute ``m``; ``values`` makes the row of those, symbol and open_time.
    return f"""
insert into market.klines_1m (
    symbol, open_time, open, high, low, close, volume, quote_volume, trade_count,
    taker_buy_volume, taker_buy_quote_volume, source
)
select
{values}
from (
    select
        'SYM' || lpad(s::text, 4, '0') || 'USDT' as symbol,
        t as open_time,
{per_minute}
    from generate_series(1, %(symbols)s) as s
    cross join lateral generate_series(
        %(start)s::timestamptz, %(end)s::timestamptz - interval '1 minute', interval '1 minute'
    ) as t
    cross join lateral (select extract(epoch from t)::bigint / 60 as m) as minute
) as candles
"""
