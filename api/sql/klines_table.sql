-- /api/v3/klines rows read straight from one table whose rows are the candles themselves:
-- analytics.candles_1m (a view over the minutes, current at every read) for 1m once dbt has
-- built, market.candles_1s_live for 1s (SECOND_CANDLE_SYMBOLS). With a start the oldest from
-- it, else the newest (direction).
select
    (extract(epoch from open_time) * 1000)::bigint as open_ms,
    {values}
from {table}
where symbol = %(symbol)s and open_time >= %(lo)s and open_time <= %(hi)s
order by open_time {direction}
limit %(limit)s
