-- Rows: active symbols whose newest closed live candle closed more than max_age ago (or never),
-- unless a halt recorded since then reaches into the last max_age (the streamer records one
-- when exchangeInfo shows the symbol out of TRADING and widens it while it lasts): a halted
-- symbol has no minutes to be fresh with, and a real halt must never turn a run red.
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
    (
        newest.open_time is null
        or params.checked_at - (newest.open_time + interval '1 minute') > params.max_age
    )
    and not exists (
        select 1
        from market.ingest_gaps as halt
        where
            halt.symbol = active.symbol
            and halt.reason = 'halt'
            and halt.gap_end >= params.checked_at - params.max_age
            and halt.gap_end > coalesce(newest.open_time, '-infinity'::timestamptz)
    )
order by active.symbol
