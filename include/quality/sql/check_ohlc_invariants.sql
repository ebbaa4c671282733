-- Rows: candles whose prices break low <= open, close <= high with positive prices.
with

{params},

-- Filtered first, ordered after: the planner expects half the rows to break the rule, and
-- asked for them in key order it read the whole window through the key index.
broken as materialized (

    select
        candle.symbol,
        candle.open_time,
        candle.open,
        candle.high,
        candle.low,
        candle.close,
        case
            when num_nulls(candle.open, candle.high, candle.low, candle.close) > 0 then 'price is null'
            when candle.high < candle.low then 'high below low'
            when candle.high < greatest(candle.open, candle.close) then 'high below open or close'
            when candle.low > least(candle.open, candle.close) then 'low above open or close'
            else 'price not positive'
        end as problem
    from {{batch}} as candle
    cross join params
    where
        candle.open_time >= params.window_start
        and candle.open_time < params.window_end
        -- greatest() and least() skip nulls, hence the explicit null count.
        and not coalesce(
            num_nulls(candle.open, candle.high, candle.low, candle.close) = 0
            and candle.low > 0
            and candle.low <= least(candle.open, candle.close)
            and candle.high >= greatest(candle.open, candle.close),
            false
        )

)

select *
from broken
order by symbol, open_time
