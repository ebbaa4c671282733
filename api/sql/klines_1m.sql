-- /api/v3/klines of 1m: analytics.candles_1m is a view over the minutes (the official kline,
-- else the live candle), current at every read, so every candle is a stored one.
select
    (extract(epoch from open_time) * 1000)::bigint,
    round(open, 8)::text,
    round(high, 8)::text,
    round(low, 8)::text,
    round(close, 8)::text,
    round(volume, 8)::text,
    round(quote_volume, 8)::text,
    trade_count,
    round(taker_buy_volume, 8)::text,
    round(taker_buy_quote_volume, 8)::text
from analytics.candles_1m
where symbol = %(symbol)s and open_time >= %(lo)s and open_time <= %(hi)s
order by open_time {direction}
limit %(limit)s
