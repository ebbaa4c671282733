-- Rows: complete higher-timeframe candles that differ from the aggregate of their own minutes
-- in analytics.candles_1m (open of the first minute, close of the last, max, min and sums).
-- A first pass compares each candle with its parts, the candles of the next stored timeframe
-- below ({parent}: 1h from 15m, 1w from 1d), a fraction of the rows; only the candles that
-- differ, and those whose bucket runs past the window's end (their parts there are checked by
-- no run of this window), are compared with their minutes. Every part inside the window is
-- itself checked against its minutes in the same run, so a candle equal to its parts is equal
-- to its minutes, and a wrong part is reported at its own timeframe only.
-- analytics.candles_1m is a view over tables the streamer and the loaders keep writing: a
-- suspect one of whose minutes was written after the newest write it was built from (its
-- source_changed_at) is one its build did not see; it is deferred, left to the next build,
-- which re-reads that minute, and checked by a later run. Every other candle is compared,
-- however recent its minutes. The result's every row carries the tally: candles compared
-- (the window's complete candles less the deferred) and deferred; with nothing wrong it is
-- one row of the tally alone (include/quality/expectation.py).
with

{params},

candles as (

    select candle.*
    from {{batch}} as candle
    cross join params
    where
        candle.is_complete
        and candle.open_time >= params.window_start
        and candle.open_time < params.window_end

),

-- The parts are grouped one symbol and one day (one bucket, when longer) at a time: a few
-- hundred buckets, whose sums stay in the CPU's cache (a day holds whole 5m..4h buckets, and
-- both start at bucket_origin's day). The window's millions of buckets at
-- once spilled to disk and took 1.6x as long (5m over the quality bench's year: 12.0 s, 7.5 s
-- this way).
chunks as (

    select
        symbols.symbol,
        chunk.chunk_start,
        chunk.chunk_start + params.chunk as chunk_end
    from (
        select distinct candle.symbol
        from {{batch}} as candle
        cross join params
        where
            candle.is_complete
            and candle.open_time >= params.window_start
            and candle.open_time < params.window_end
    ) as symbols
    cross join params
    cross join lateral generate_series(
        params.first_chunk, params.window_end - interval '1 microsecond', params.chunk
    ) as chunk (chunk_start)

),

-- A complete candle has every part, so its open is the open of the part opening with it and
-- its close the close of the part ending with it: picked by a filter, no per-row array. A
-- missing part leaves a null, which differs, and the bucket is counted from its minutes.
from_parts as (

    select
        chunks.symbol,
        grouped.*
    from chunks
    cross join lateral (
        select
            parts.open_time,
            max(parts.open) filter (where parts.part_time = parts.open_time) as open,
            max(parts.high) as high,
            min(parts.low) as low,
            max(parts.close) filter (
                where parts.part_time = parts.open_time + params.bucket - params.part_bucket
            ) as close,
            sum(parts.volume) as volume,
            sum(parts.quote_volume) as quote_volume,
            sum(parts.trade_count) as trade_count,
            sum(parts.taker_buy_volume) as taker_buy_volume,
            sum(parts.taker_buy_quote_volume) as taker_buy_quote_volume
        from (
            select
                part.open,
                part.high,
                part.low,
                part.close,
                part.volume,
                part.quote_volume,
                part.trade_count,
                part.taker_buy_volume,
                part.taker_buy_quote_volume,
                part.open_time as part_time,
                date_bin(params.bucket, part.open_time, params.bucket_origin) as open_time
            from {parent} as part
            cross join params
            where
                part.symbol = chunks.symbol
                and part.open_time >= chunks.chunk_start
                and part.open_time < chunks.chunk_end
                -- From the first bucket opening inside the window (a bucket opening before it
                -- is another window's); stated with the window's end so that only the window's
                -- partitions are planned.
                and part.open_time >= params.first_bucket
                and part.open_time < params.window_end
        ) as parts
        cross join params
        group by parts.open_time
    ) as grouped

),

-- The suspects carry their candle's fields, so the candles are read once (a second read joined
-- every candle of the window back to the few suspects). Materialized: the lateral below then
-- runs for the suspects only, never planned ahead of the filter for every candle.
suspects as materialized (

    select candles.*
    from candles
    cross join params
    left join from_parts
        on from_parts.symbol = candles.symbol
        and from_parts.open_time = candles.open_time
    where
        candles.open_time + params.bucket > params.window_end
        or (
            candles.open, candles.high, candles.low, candles.close, candles.volume,
            candles.quote_volume, candles.trade_count, candles.taker_buy_volume,
            candles.taker_buy_quote_volume
        ) is distinct from (
            from_parts.open, from_parts.high, from_parts.low, from_parts.close,
            from_parts.volume, from_parts.quote_volume, from_parts.trade_count,
            from_parts.taker_buy_volume, from_parts.taker_buy_quote_volume
        )

),

-- For a candle built before source_changed_at existed (null): the old rule, a minute written
-- within dbt's look-back of the mart's last build.
settled as (

    select max(candle.built_at) - {lookback}::interval as before
    from {{batch}} as candle

),

-- Each suspect's minutes by its key, in a lateral: a join planned for the window's every
-- candle read every minute of the window for a handful of suspects.
compared as (

    select
        candles.symbol,
        candles.open_time,
        case
            when expected.minutes_found = 0 then 'no minutes'
            else concat_ws(
                ', ',
                case when candles.open is distinct from expected.open then 'open' end,
                case when candles.high is distinct from expected.high then 'high' end,
                case when candles.low is distinct from expected.low then 'low' end,
                case when candles.close is distinct from expected.close then 'close' end,
                case when candles.volume is distinct from expected.volume then 'volume' end,
                case
                    when candles.quote_volume is distinct from expected.quote_volume
                        then 'quote_volume'
                end,
                case
                    when candles.trade_count is distinct from expected.trade_count
                        then 'trade_count'
                end,
                case
                    when candles.taker_buy_volume is distinct from expected.taker_buy_volume
                        then 'taker_buy_volume'
                end,
                case
                    when candles.taker_buy_quote_volume
                        is distinct from expected.taker_buy_quote_volume
                        then 'taker_buy_quote_volume'
                end
            )
        end as differing_fields,
        concat_ws(
            ' ',
            candles.open, candles.high, candles.low, candles.close, candles.volume,
            candles.trade_count
        ) as candle_ohlcv,
        concat_ws(
            ' ',
            expected.open, expected.high, expected.low, expected.close, expected.volume,
            expected.trade_count
        ) as minutes_ohlcv,
        expected.newest_change
        > coalesce(candles.source_changed_at, settled.before - interval '1 microsecond')
        as deferred
    from suspects as candles
    cross join settled
    cross join lateral (
        select
            count(*) as minutes_found,
            max(minute.built_at) as newest_change,
            (min(array[extract(epoch from minute.open_time), minute.open]))[2] as open,
            max(minute.high) as high,
            min(minute.low) as low,
            (max(array[extract(epoch from minute.open_time), minute.close]))[2] as close,
            sum(minute.volume) as volume,
            sum(minute.quote_volume) as quote_volume,
            sum(minute.trade_count) as trade_count,
            sum(minute.taker_buy_volume) as taker_buy_volume,
            sum(minute.taker_buy_quote_volume) as taker_buy_quote_volume
        from analytics.candles_1m as minute
        cross join params
        where
            minute.symbol = candles.symbol
            and minute.open_time >= candles.open_time
            and minute.open_time < candles.open_time + params.bucket
            -- Implied, stated so only the window's partitions are read.
            and minute.open_time >= params.window_start
            and minute.open_time < params.minutes_end
    ) as expected

),

tally as (

    select
        (
            select count(*)
            from {{batch}} as candle
            cross join params
            where
                candle.is_complete
                and candle.open_time >= params.window_start
                and candle.open_time < params.window_end
        ) - deferred.candles as compared,
        deferred.candles as deferred
    from (select count(*) as candles from compared where deferred) as deferred

)

select
    offending.*,
    tally.compared as _quality_compared,
    tally.deferred as _quality_deferred
from tally
left join (
    select
        compared.symbol,
        compared.open_time,
        compared.differing_fields,
        compared.candle_ohlcv,
        compared.minutes_ohlcv
    from compared
    where compared.deferred is not true and compared.differing_fields <> ''
) as offending on true
order by offending.symbol, offending.open_time
