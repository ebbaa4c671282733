-- Rows: candles whose key (symbol, open_time) is null; a null open_time belongs to every window.
with

{params}

select
    candle.symbol,
    candle.open_time
from {{batch}} as candle
cross join params
where
    (candle.symbol is null and candle.open_time >= params.window_start
        and candle.open_time < params.window_end)
    or candle.open_time is null
