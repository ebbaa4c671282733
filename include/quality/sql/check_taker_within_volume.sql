-- Rows: candles whose taker-buy volumes exceed the volumes they are part of.
with

{params},

-- Filtered first, ordered after: the planner expects half the rows to break the rule, and
-- asked for them in key order it read the whole window through the key index.
broken as materialized (

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

)

select *
from broken
order by symbol, open_time
