-- One batch of 1s candles (SECOND_CANDLE_SYMBOLS), one array per column; a second an earlier
-- write closed is never reopened.
insert into market.candles_1s_live (symbol, open_time, open, high, low, close, volume,
    quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, is_closed)
select * from unnest(%s::text[], %s::timestamptz[], %s::numeric[], %s::numeric[],
    %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[], %s::bigint[], %s::numeric[],
    %s::numeric[], %s::boolean[])
on conflict (symbol, open_time) do update set
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, quote_volume = excluded.quote_volume,
    trade_count = excluded.trade_count, taker_buy_volume = excluded.taker_buy_volume,
    taker_buy_quote_volume = excluded.taker_buy_quote_volume, is_closed = excluded.is_closed,
    updated_at = now()
where not (market.candles_1s_live.is_closed and not excluded.is_closed)
