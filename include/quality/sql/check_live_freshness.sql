-- Rows: active symbols whose newest closed live candle closed more than max_age ago (or never).
with

-- Inlined (not materialized): the planner sees the window as constants and bounds each scan.
params as not materialized (

    select
        now() as checked_at,
        {max_age}::interval as max_age

),

active as (

    {active_symbols}

)

select
    active.symbol,
    newest.open_time as newest_closed_minute,
    (params.checked_at - (newest.open_time + interval '1 minute'))::text as age
from active
cross join params
left join lateral (
    select max(candle.open_time) as open_time
    from {{batch}} as candle
    where candle.symbol = active.symbol and candle.is_closed
) as newest on true
where
    newest.open_time is null
    or params.checked_at - (newest.open_time + interval '1 minute') > params.max_age
order by active.symbol
