-- The 1s candles a notification named, read from the table (a payload is only a hint of
-- which keys changed): the klines row and whether the streamer closed the second.
select
    keys.symbol,
    keys.open_ms,
    round(s.open, 8)::text,
    round(s.high, 8)::text,
    round(s.low, 8)::text,
    round(s.close, 8)::text,
    round(s.volume, 8)::text,
    round(s.quote_volume, 8)::text,
    s.trade_count,
    round(s.taker_buy_volume, 8)::text,
    round(s.taker_buy_quote_volume, 8)::text,
    s.is_closed
from unnest(%(symbols)s::text [], %(opens)s::bigint []) as keys (symbol, open_ms)
join market.candles_1s_live as s
    on
        keys.symbol = s.symbol
        and s.open_time = timestamptz 'epoch' + keys.open_ms * interval '1 millisecond'
