-- Rows: candles with a negative or null volume, quote volume, trade count or taker volume.
with

{params},

-- Filtered first, ordered after: the planner expects half the rows to break the rule, and
-- asked for them in key order it read the whole window through the key index.
broken as materialized (

    select
        candle.symbol,
        candle.open_time,
        concat_ws(
            ', ',
            case when not coalesce(candle.volume >= 0, false) then 'volume' end,
            case when not coalesce(candle.quote_volume >= 0, false) then 'quote_volume' end,
            case when not coalesce(candle.trade_count >= 0, false) then 'trade_count' end,
            case when not coalesce(candle.taker_buy_volume >= 0, false) then 'taker_buy_volume' end,
            case
                when not coalesce(candle.taker_buy_quote_volume >= 0, false)
                    then 'taker_buy_quote_volume'
            end
        ) as negative_or_null,
        candle.volume,
        candle.quote_volume,
        candle.trade_count,
        candle.taker_buy_volume,
        candle.taker_buy_quote_volume
    from {{batch}} as candle
    cross join params
    where
        candle.open_time >= params.window_start
        and candle.open_time < params.window_end
        and not coalesce(
            candle.volume >= 0
            and candle.quote_volume >= 0
            and candle.trade_count >= 0
            and candle.taker_buy_volume >= 0
            and candle.taker_buy_quote_volume >= 0,
            false
        )

)

select *
from broken
order by symbol, open_time
