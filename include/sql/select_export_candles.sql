-- One symbol's candles of a stored interval in [start, end), oldest first: a timeframe mart's
-- rows, or the streamer's 1s table's (its is_closed is a second's is_complete); decimals as
-- their exact text (CSV writes it as it is, Parquet parses it into decimals) and the widest scale
-- of the row, so an export never rounds a value that does not fit its decimal type.
select
    symbol,
    open_time,
    open::text as open,
    high::text as high,
    low::text as low,
    close::text as close,
    volume::text as volume,
    quote_volume::text as quote_volume,
    trade_count,
    taker_buy_volume::text as taker_buy_volume,
    taker_buy_quote_volume::text as taker_buy_quote_volume,
    {complete} as is_complete,
    greatest(
        scale(open), scale(high), scale(low), scale(close), scale(volume), scale(quote_volume),
        scale(taker_buy_volume), scale(taker_buy_quote_volume)
    ) as widest_scale
from {table}
where symbol = %(symbol)s and open_time >= %(start)s and open_time < %(end)s
order by open_time
