-- Rows: buckets whose candle is missing or whose minute_count / is_complete disagree with the
-- minutes analytics.candles_1m holds for them.
with

{params},

-- Binance aligns 5m..1d to UTC epoch multiples and 1w to Monday: params.bucket_origin.
minutes as (

    select
        minute.symbol,
        date_bin(params.bucket, minute.open_time, params.bucket_origin) as open_time,
        count(*) as minutes_present
    from analytics.candles_1m as minute
    cross join params
    where
        minute.open_time >= params.window_start
        and minute.open_time < params.window_end + params.bucket
    group by 1, 2

)

select
    minutes.symbol,
    minutes.open_time,
    minutes.minutes_present,
    candle.minute_count,
    candle.is_complete
from minutes
cross join params
left join {{batch}} as candle
    on candle.symbol = minutes.symbol
    and candle.open_time = minutes.open_time
    -- Implied by the join, stated so the candles are read from the window's range only.
    and candle.open_time >= params.window_start
    and candle.open_time < params.window_end
where
    minutes.open_time >= params.window_start
    and minutes.open_time < params.window_end
    and (
        candle.symbol is null
        or candle.minute_count is distinct from minutes.minutes_present
        or candle.is_complete is distinct from (minutes.minutes_present = params.bucket_minutes)
    )
order by minutes.symbol, minutes.open_time
