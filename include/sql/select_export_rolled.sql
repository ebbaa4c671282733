-- One symbol's candles of an interval no mart holds (3m, 30m, 2h, 6h, 8h, 12h, 3d, 1M), summed
-- from the stored interval's rows the read API sums them from (include/platform/intervals.py
-- rolled_from) with the roll-up rule's owner's expressions (dbt's rollup_candles: first open,
-- highest high, lowest low, last close, sums; tests/test_rollup_rule.py pins them), in exact
-- decimals. {bucket} opens each row's candle (a fixed length's date_bin on its grid, or the UTC
-- month); {expected} is how many stored rows a whole candle holds: a candle is complete when it
-- holds them all and each is complete. [first, last) covers whole candles only.
select
    symbol,
    bucket as open_time,
    (array_agg(open order by open_time))[1]::text as open,
    max(high)::text as high,
    min(low)::text as low,
    (array_agg(close order by open_time desc))[1]::text as close,
    sum(volume)::text as volume,
    sum(quote_volume)::text as quote_volume,
    sum(trade_count)::bigint as trade_count,
    sum(taker_buy_volume)::text as taker_buy_volume,
    sum(taker_buy_quote_volume)::text as taker_buy_quote_volume,
    bool_and(is_complete) and count(*) = {expected} as is_complete,
    max(greatest(
        scale(open), scale(high), scale(low), scale(close), scale(volume), scale(quote_volume),
        scale(taker_buy_volume), scale(taker_buy_quote_volume)
    )) as widest_scale
from (
    select stored.*, {bucket} as bucket
    from analytics.{mart} as stored
    where symbol = %(symbol)s and open_time >= %(first)s and open_time < %(last)s
) as rows
group by symbol, bucket
order by bucket
