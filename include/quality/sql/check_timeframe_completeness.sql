-- Rows: buckets whose candle is missing or whose minute_count / is_complete disagree with the
-- minutes analytics.candles_1m holds for them.
-- A first pass counts each bucket's minutes from its parts, the candles of the next stored
-- timeframe below ({parent}), by their minute_count; only the buckets that disagree, and those
-- running past the window's end, are counted from the minutes themselves. Every part inside
-- the window is itself checked in the same run, so a wrong part is reported at its own
-- timeframe only, and a bucket with minutes but no part is reported there.
-- analytics.candles_1m is a view over tables the streamer and the loaders keep writing: a
-- suspect one of whose minutes was written after the newest write its candle was built from
-- (source_changed_at; with no candle, after the mart's last build began) is one the build did
-- not see; it is deferred, left to the next build, which re-reads that minute, and checked by
-- a later run. Every other bucket is compared, however recent its minutes. The result's every
-- row carries the tally: candles compared (the window's candles less the deferred) and
-- deferred; with nothing wrong it is one row of the tally alone (include/quality/expectation.py).
with

{params},

-- Binance aligns 5m..1d to UTC epoch multiples and 1w to Monday: params.bucket_origin.
from_parts as (

    select
        part.symbol,
        date_bin(params.bucket, part.open_time, params.bucket_origin) as open_time,
        sum(part.minute_count) as minutes_present
    from {parent} as part
    cross join params
    where
        -- From the first bucket opening inside the window (a bucket opening before it is
        -- another window's), a bound on the parts themselves.
        -- Computed here, not taken from params.first_bucket: the plan over a year rests on the
        -- planner's guess of the rows and buckets. With this bound it guesses few rows and
        -- groups them sorted by symbol (5m over the quality bench's year 5.4 s); with the
        -- constant it sorted them all at once (8.7 s), and with the constant and no bounds on
        -- the buckets below it guessed 40,000 buckets for 2.1 M and its hash spilled (7.3-9.9 s).
        part.open_time >= date_bin(
            params.bucket, params.window_start - interval '1 microsecond', params.bucket_origin
        ) + params.bucket
        -- Implied, and a constant: only the window's partitions are planned (at 365 days of
        -- history, planning a 24-hour window took 18 ms without it, 3 ms with it).
        and part.open_time >= params.window_start
        and part.open_time < params.window_end
    group by 1, 2

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

suspects as (

    select
        from_parts.symbol,
        from_parts.open_time
    from from_parts
    cross join params
    left join {{batch}} as candle
        on candle.symbol = from_parts.symbol
        and candle.open_time = from_parts.open_time
        and candle.open_time >= params.window_start
        and candle.open_time < params.window_end
    where
        (
            candle.symbol is null
            or candle.minute_count is distinct from from_parts.minutes_present
            or candle.is_complete
            is distinct from (from_parts.minutes_present = params.bucket_minutes)
        )

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

-- Each suspect's minutes by its key, in a lateral: a join planned for the window's every
-- bucket read every minute of the window for a handful of suspects (the tail of a 1w window).
-- The suspects are a union, which the planner never flattens, so the lateral runs per suspect.
minutes as (

    select
        suspects.symbol,
        suspects.open_time,
        counted.minutes_present,
        counted.newest_change
    from suspects
    cross join lateral (
        select
            count(*) as minutes_present,
            max(minute.built_at) as newest_change
        from analytics.candles_1m as minute
        cross join params
        where
            minute.symbol = suspects.symbol
            and minute.open_time >= suspects.open_time
            and minute.open_time < suspects.open_time + params.bucket
            -- Implied, stated so only the window's partitions are read.
            and minute.open_time >= params.window_start
            and minute.open_time < params.minutes_end
    ) as counted

),

-- The suspects that disagree, each with whether it waits for a build.
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

tally as (

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

)

select
    offending.*,
    tally.compared as _quality_compared,
    tally.deferred as _quality_deferred
from tally
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
order by offending.symbol, offending.open_time
