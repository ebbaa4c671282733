-- The 1m candles a notification named, read from the tables: a payload is only a hint of which
-- keys changed (any login may NOTIFY, so its values are never pushed). The official kline where
-- Binance has one, else the live candle; closed when official or when the streamer closed it.
select
    keys.symbol,
    keys.open_ms,
    round(coalesce(k.open, l.open), 8)::text,
    round(coalesce(k.high, l.high), 8)::text,
    round(coalesce(k.low, l.low), 8)::text,
    round(coalesce(k.close, l.close), 8)::text,
    round(coalesce(k.volume, l.volume), 8)::text,
    round(coalesce(k.quote_volume, l.quote_volume), 8)::text,
    coalesce(k.trade_count, l.trade_count),
    round(coalesce(k.taker_buy_volume, l.taker_buy_volume), 8)::text,
    round(coalesce(k.taker_buy_quote_volume, l.taker_buy_quote_volume), 8)::text,
    k.symbol is not null or coalesce(l.is_closed, false) as is_closed,
    coalesce(l.first_trade_id, -1),
    coalesce(l.last_trade_id, -1)
from unnest(%(symbols)s::text [], %(opens)s::bigint []) as keys (symbol, open_ms)
left join market.klines_1m as k
    on
        keys.symbol = k.symbol
        and k.open_time = timestamptz 'epoch' + keys.open_ms * interval '1 millisecond'
left join market.candles_1m_live as l
    on
        keys.symbol = l.symbol
        and l.open_time = timestamptz 'epoch' + keys.open_ms * interval '1 millisecond'
where k.symbol is not null or l.symbol is not null
