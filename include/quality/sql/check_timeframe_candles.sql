-- Both candle checks of a higher timeframe in one pass over its window, each reporting its own
-- rows (the _quality_check column names whose they are; include/quality/expectation.py):
-- - timeframe_completeness: buckets whose candle is missing or whose minute_count /
--   is_complete disagree with the minutes analytics.candles_1m holds for them;
-- - cross_timeframe: complete candles that differ from the aggregate of their own minutes
--   (open of the first minute, close of the last, max, min and sums).
-- Both start from the same pass: each bucket's parts, the candles of the next stored timeframe
-- below ({parent}: 1h from 15m, 1w from 1d; 5m from the minutes), grouped beside the bucket's
-- candle. Two checks each reading the parts and the candles took twice the reads (the 5m's parts
-- are the window's every minute: 4.3 + 9.3 s over the quality bench's year).
-- Only the buckets that disagree with their parts, and those running past the window's end
-- (their parts there are checked by no run of this window), are counted or compared again from
-- the minutes themselves. Every part inside the window is itself checked in the same run, so a
-- candle equal to its parts is equal to its minutes, a wrong part is reported at its own
-- timeframe only, and a bucket with minutes but no part is reported there.
-- analytics.candles_1m is a view over tables the streamer and the loaders keep writing: a
-- suspect one of whose minutes was written after the newest write its candle was built from
-- (source_changed_at; with no candle, after the mart's last build began) is one the build did
-- not see; it is deferred, left to the next build, which re-reads that minute, and checked by
-- a later run. Every other bucket is compared, however recent its minutes. Each check's rows
-- carry its tally: candles compared (the window's candles, complete ones for cross_timeframe,
-- less the deferred) and deferred; with nothing wrong it is one row of the tally alone.
with

{params},

-- Every symbol with a candle or a part in the window, each found by a few index probes (a
-- loose index scan of each table) rather than a read of the window. More is harmless: a
-- symbol's chunks without rows are empty.
symbols as (

    {window_symbols}

),

-- The buckets are grouped one symbol and one day (one bucket, when longer) at a time: a few
-- hundred buckets, whose sums stay in the CPU's cache (a day holds whole 5m..4h buckets, and
-- both start at bucket_origin's day). The window's millions of buckets at once spilled to disk
-- and took 1.6x as long.
chunks as (

    select
        symbols.symbol,
        chunk.chunk_start,
        chunk.chunk_start + params.chunk as chunk_end
    from symbols
    cross join params
    cross join lateral generate_series(
        params.first_chunk, params.window_end - interval '1 microsecond', params.chunk
    ) as chunk (chunk_start)

),

-- Each chunk's buckets from their parts, beside their candles (joined inside the chunk: the
-- window's candles joined at once to its grouped parts spilled to disk). A complete candle
-- has every part, so its open is the open of the part opening with it and its close the close
-- of the part ending with it: picked by a filter, no per-row array. A missing part leaves a
-- null, which differs, and the bucket is counted from its minutes. Only the suspects of either
-- check go on, with their candle's fields: the candles are read once. Materialized: the
-- laterals below then run for the suspects only.
suspects as materialized (

    select
        chunks.symbol,
        bucket.*
    from chunks
    cross join lateral (
        select
            coalesce(candle.open_time, grouped.open_time) as open_time,
            candle.open_time is not null as has_candle,
            candle.open,
            candle.high,
            candle.low,
            candle.close,
            candle.volume,
            candle.quote_volume,
            candle.trade_count,
            candle.taker_buy_volume,
            candle.taker_buy_quote_volume,
            candle.source_changed_at,
            grouped.open_time is not null
            and (
                candle.open_time is null
                or candle.minute_count is distinct from grouped.minutes_present
                or candle.is_complete
                is distinct from (grouped.minutes_present = params.bucket_minutes)
            ) as completeness_suspect,
            coalesce(candle.is_complete, false)
            and (
                candle.open_time + params.bucket > params.window_end
                or (
                    candle.open, candle.high, candle.low, candle.close, candle.volume,
                    candle.quote_volume, candle.trade_count, candle.taker_buy_volume,
                    candle.taker_buy_quote_volume
                ) is distinct from (
                    grouped.open, grouped.high, grouped.low, grouped.close, grouped.volume,
                    grouped.quote_volume, grouped.trade_count, grouped.taker_buy_volume,
                    grouped.taker_buy_quote_volume
                )
            ) as cross_suspect
        from (
            select
                parts.open_time,
                sum(parts.minute_count) as minutes_present,
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
                    part.minute_count,
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
                    -- From the first bucket opening inside the window (a bucket opening before
                    -- it is another window's); stated with the window's end so that only the
                    -- window's partitions are planned.
                    and part.open_time >= params.first_bucket
                    and part.open_time < params.window_end
            ) as parts
            cross join params
            group by parts.open_time
        ) as grouped
        full join (
            select candle.*
            from {{batch}} as candle
            cross join params
            where
                candle.symbol = chunks.symbol
                and candle.open_time >= chunks.chunk_start
                and candle.open_time < chunks.chunk_end
                and candle.open_time >= params.window_start
                and candle.open_time < params.window_end
        ) as candle
            on candle.open_time = grouped.open_time
        cross join params
    ) as bucket
    where bucket.completeness_suspect or bucket.cross_suspect

),

-- The window's last bucket when it opens inside the window and runs past its end.
tail as (

    select distinct
        minute.symbol,
        params.last_bucket as open_time
    from analytics.candles_1m as minute
    cross join params
    where
        params.last_bucket >= params.window_start
        and params.last_bucket + params.bucket > params.window_end
        and minute.open_time >= params.last_bucket
        and minute.open_time < params.last_bucket + params.bucket
        -- Implied, stated so only the window's partitions are read.
        and minute.open_time >= params.window_start
        and minute.open_time < params.minutes_end

),

completeness_suspects as (

    select
        suspects.symbol,
        suspects.open_time
    from suspects
    where suspects.completeness_suspect

    union

    select
        tail.symbol,
        tail.open_time
    from tail

),

-- The mart's last build began at `newest`: a bucket with no candle whose minutes were all
-- written before it was missed. For a candle built before source_changed_at existed (null):
-- the old rule, a minute written within dbt's look-back of that build.
settled as (

    select
        max(candle.built_at) as newest,
        max(candle.built_at) - {lookback}::interval as before
    from {{batch}} as candle

),

-- Each completeness suspect's minutes by its key, in a lateral: a join planned for the
-- window's every bucket read every minute of the window for a handful of suspects (the tail of
-- a 1w window). The suspects are a union, which the planner never flattens, so the lateral
-- runs per suspect.
minutes as (

    select
        completeness_suspects.symbol,
        completeness_suspects.open_time,
        counted.minutes_present,
        counted.newest_change
    from completeness_suspects
    cross join lateral (
        select
            count(*) as minutes_present,
            max(minute.built_at) as newest_change
        from analytics.candles_1m as minute
        cross join params
        where
            minute.symbol = completeness_suspects.symbol
            and minute.open_time >= completeness_suspects.open_time
            and minute.open_time < completeness_suspects.open_time + params.bucket
            -- Implied, stated so only the window's partitions are read.
            and minute.open_time >= params.window_start
            and minute.open_time < params.minutes_end
    ) as counted

),

-- The completeness suspects that disagree, each with whether it waits for a build.
judged as (

    select
        minutes.symbol,
        minutes.open_time,
        minutes.minutes_present,
        candle.minute_count,
        candle.is_complete,
        candle.symbol is not null as has_candle,
        minutes.newest_change > case
            when candle.symbol is null then settled.newest
            else coalesce(candle.source_changed_at, settled.before - interval '1 microsecond')
        end as deferred
    from minutes
    cross join params
    cross join settled
    left join {{batch}} as candle
        on candle.symbol = minutes.symbol
        and candle.open_time = minutes.open_time
        -- Implied by the join, stated so the candles are read from the window's range only.
        and candle.open_time >= params.window_start
        and candle.open_time < params.window_end
    where
        minutes.open_time >= params.window_start
        and minutes.open_time < params.window_end
        and (
            candle.symbol is null
            or candle.minute_count is distinct from minutes.minutes_present
            or candle.is_complete
            is distinct from (minutes.minutes_present = params.bucket_minutes)
        )

),

-- Each cross_timeframe suspect's minutes by its key, in a lateral: a join planned for the
-- window's every candle read every minute of the window for a handful of suspects.
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
    where candles.cross_suspect

),

-- The tallies: the window's candles (complete ones for cross_timeframe), by the key index
-- alone, less those deferred.
completeness_tally as (

    select
        (
            select count(*)
            from {{batch}} as candle
            cross join params
            where
                candle.open_time >= params.window_start
                and candle.open_time < params.window_end
        ) - deferred.candles as compared,
        deferred.buckets as deferred
    from (
        select
            count(*) filter (where has_candle) as candles,
            count(*) as buckets
        from judged
        where deferred
    ) as deferred

),

cross_tally as (

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
    'timeframe_completeness' as _quality_check,
    offending.symbol,
    offending.open_time,
    offending.minutes_present,
    offending.minute_count,
    offending.is_complete,
    null::text as differing_fields,
    null::text as candle_ohlcv,
    null::text as minutes_ohlcv,
    tally.compared as _quality_compared,
    tally.deferred as _quality_deferred
from completeness_tally as tally
left join (
    select
        judged.symbol,
        judged.open_time,
        judged.minutes_present,
        judged.minute_count,
        judged.is_complete
    from judged
    where judged.deferred is not true
) as offending on true

union all

select
    'cross_timeframe' as _quality_check,
    offending.symbol,
    offending.open_time,
    null::bigint as minutes_present,
    null::integer as minute_count,
    null::boolean as is_complete,
    offending.differing_fields,
    offending.candle_ohlcv,
    offending.minutes_ohlcv,
    tally.compared as _quality_compared,
    tally.deferred as _quality_deferred
from cross_tally as tally
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

order by _quality_check, symbol, open_time
