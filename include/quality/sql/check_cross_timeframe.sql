-- Rows: complete higher-timeframe candles that differ from the aggregate of their own minutes
-- in analytics.candles_1m (open of the first minute, close of the last, max, min and sums).
with

{params},

candles as (

    select candle.*
    from {{batch}} as candle
    cross join params
    where
        candle.is_complete
        and candle.open_time >= params.window_start
        and candle.open_time < params.window_end

),

-- Open and close are the price of the earliest and latest minute: the minimum and maximum of
-- (epoch, price) pairs pick them in one pass, without sorting each bucket.
expected as (

    select
        minute.symbol,
        date_bin(params.bucket, minute.open_time, params.bucket_origin) as open_time,
        (min(array[extract(epoch from minute.open_time), minute.open]))[2] as open,
        max(minute.high) as high,
        min(minute.low) as low,
        (max(array[extract(epoch from minute.open_time), minute.close]))[2] as close,
        sum(minute.volume) as volume,
        sum(minute.quote_volume) as quote_volume,
        sum(minute.trade_count) as trade_count,
        sum(minute.taker_buy_volume) as taker_buy_volume,
        sum(minute.taker_buy_quote_volume) as taker_buy_quote_volume
    from analytics.candles_1m as minute
    cross join params
    where
        minute.open_time >= params.window_start
        and minute.open_time < params.window_end + params.bucket
    group by 1, 2

),

compared as (

    select
        candles.symbol,
        candles.open_time,
        case
            when expected.symbol is null then 'no minutes'
            else concat_ws(
                ', ',
                case when candles.open is distinct from expected.open then 'open' end,
                case when candles.high is distinct from expected.high then 'high' end,
                case when candles.low is distinct from expected.low then 'low' end,
                case when candles.close is distinct from expected.close then 'close' end,
                case when candles.volume is distinct from expected.volume then 'volume' end,
                case
                    when candles.quote_volume is distinct from expected.quote_volume
                        then 'quote_volume'
                end,
                case
                    when candles.trade_count is distinct from expected.trade_count
                        then 'trade_count'
                end,
                case
                    when candles.taker_buy_volume is distinct from expected.taker_buy_volume
                        then 'taker_buy_volume'
                end,
                case
                    when candles.taker_buy_quote_volume
                        is distinct from expected.taker_buy_quote_volume
                        then 'taker_buy_quote_volume'
                end
            )
        end as differing_fields,
        concat_ws(
            ' ',
            candles.open, candles.high, candles.low, candles.close, candles.volume,
            candles.trade_count
        ) as candle_ohlcv,
        concat_ws(
            ' ',
            expected.open, expected.high, expected.low, expected.close, expected.volume,
            expected.trade_count
        ) as minutes_ohlcv
    from candles
    left join expected
        on expected.symbol = candles.symbol
        and expected.open_time = candles.open_time

)

select *
from compared
where differing_fields <> ''
order by symbol, open_time
