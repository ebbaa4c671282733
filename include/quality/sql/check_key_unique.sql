-- Rows: keys (symbol, open_time) held by more than one candle inside the window.
with

{params}

select
    candle.symbol,
    candle.open_time,
    count(*) as copies
from {{batch}} as candle
cross join params
where
    candle.open_time >= params.window_start
    and candle.open_time < params.window_end
group by candle.symbol, candle.open_time
having count(*) > 1
order by candle.symbol, candle.open_time
