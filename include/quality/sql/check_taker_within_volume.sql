-- Rows: candles whose taker-buy volumes exceed the volumes they are part of.
with

{params}

select
    candle.symbol,
    candle.open_time,
    candle.volume,
    candle.taker_buy_volume,
    candle.quote_volume,
    candle.taker_buy_quote_volume
from {{batch}} as candle
cross join params
where
    candle.open_time >= params.window_start
    and candle.open_time < params.window_end
    and (
        candle.taker_buy_volume > candle.volume
        or candle.taker_buy_quote_volume > candle.quote_volume
    )
order by candle.symbol, candle.open_time
