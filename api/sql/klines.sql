-- /api/v3/klines of one interval: stored candles, then the forming ones rolled up from
-- the minutes after the newest final one the marts were built from (api/klines/statements.py fills in
-- the fragments klines_*.sql).
with bounds as materialized (
    {bounds}
),

stored as (
    {stored}
),

minutes as (
    {minutes}
),

rolled as (
    select
        date_bin({bucket}, open_time, {origin}) as open_time,
        (array_agg(open order by open_time))[1] as open,
        max(high) as high,
        min(low) as low,
        (array_agg(close order by open_time desc))[1] as close,
        sum(volume) as volume,
        sum(quote_volume) as quote_volume,
        sum(trade_count)::bigint as trade_count,
        sum(taker_buy_volume) as taker_buy_volume,
        sum(taker_buy_quote_volume) as taker_buy_quote_volume
    from minutes
    group by 1
),

picked as (
    select * from stored
    union all
    select * from rolled where open_time >= %(lo)s and open_time <= %(hi)s
)

select
    (extract(epoch from open_time) * 1000)::bigint,
    {values}
from picked
order by open_time {direction}
limit %(limit)s
