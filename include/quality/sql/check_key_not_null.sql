-- Rows: candles whose key (symbol, open_time) is null; a null open_time belongs to every window.
with

-- Inlined (not materialized): the planner sees the window as constants and bounds each scan.
params as not materialized (

    select
        {window_start}::timestamptz as window_start,
        {window_end}::timestamptz as window_end

)

select
    candle.symbol,
    candle.open_time
from {{batch}} as candle
cross join params
where
    (candle.symbol is null and candle.open_time >= params.window_start
        and candle.open_time < params.window_end)
    or candle.open_time is null
