-- Rows: runs of minutes missing for an active symbol inside the window, outside unhealed gaps,
-- halts and minutes whose source rows landed after the last build (the next build reads them).
-- A symbol is checked from its first candle on, up to the minute the last build ran in, or up
-- to its own newest final minute when the market runs ahead of the host's clock (a replay at
-- speed): the data's own time, not only the host's. Each symbol by its own, so a quiet symbol
-- whose last minute is still being proven is not a hole.
with

{params},

active as (

    {active_symbols}

),

built as (

    select
        date_trunc('minute', max(candle.built_at)) as horizon,
        max(candle.built_at) as built_at
    from {{batch}} as candle

),

bounds as (

    select
        active.symbol,
        greatest(params.window_start, first_candle.open_time) as lower_bound,
        least(
            params.window_end,
            greatest(built.horizon, newest_final.open_time + interval '1 minute')
        ) as upper_bound
    from active
    cross join params
    cross join built
    cross join lateral (
        select min(candle.open_time) as open_time
        from {{batch}} as candle
        where candle.symbol = active.symbol
    ) as first_candle
    -- Newest partition first, stopping at the first final row (open ones are the newest few).
    left join lateral (
        select candle.open_time
        from {{batch}} as candle
        where candle.symbol = active.symbol and candle.is_final
        order by candle.open_time desc
        limit 1
    ) as newest_final on true
    where first_candle.open_time is not null

),

-- Each symbol's minutes per UTC day inside its bounds, counted in one pass: the key is unique
-- (dbt's unique index on it), so a day holding as many rows as it has minutes has no hole,
-- and only the other days are looked at minute by minute.
present as (

    select
        candle.symbol,
        date_bin(interval '1 day', candle.open_time, timestamptz '1970-01-01 00:00:00+00') as day,
        count(*) as minutes_present
    from {{batch}} as candle
    cross join params
    inner join bounds
        on candle.symbol = bounds.symbol
        and candle.open_time >= bounds.lower_bound
        and candle.open_time < bounds.upper_bound
    -- Implied by the bounds, stated so only the window's partitions are read.
    where
        candle.open_time >= params.window_start
        and candle.open_time < params.window_end
    group by 1, 2

),

days as (

    select
        bounds.symbol,
        day.day,
        greatest(day.day, bounds.lower_bound) as span_start,
        least(day.day + interval '1 day', bounds.upper_bound) as span_end
    from bounds
    cross join lateral generate_series(
        date_bin(
            interval '1 day', bounds.lower_bound, timestamptz '1970-01-01 00:00:00+00'
        ),
        bounds.upper_bound - interval '1 microsecond',
        interval '1 day'
    ) as day (day)
    where bounds.upper_bound > bounds.lower_bound

),

spans as (

    select
        days.symbol,
        days.span_start,
        days.span_end
    from days
    left join present
        on present.symbol = days.symbol
        and present.day = days.day
    where
        coalesce(present.minutes_present, 0)
        < extract(epoch from days.span_end - days.span_start) / 60

),

-- A recorded, unhealed gap is known and reported by unhealed_gaps, and a halt is a fact
-- reported by halts: neither is a defect here. Only those overlapping the window can cover a
-- missing minute (read through the gap_end index, not the whole history of gaps).
exempt as (

    select
        gap.symbol,
        gap.gap_start,
        gap.gap_end
    from market.ingest_gaps as gap
    cross join params
    where
        (gap.healed_at is null or gap.reason = 'halt')
        and gap.gap_start < params.window_end
        and gap.gap_end > params.window_start

),

missing as (

    select
        spans.symbol,
        minute.open_time
    from spans
    cross join lateral generate_series(
        spans.span_start, spans.span_end - interval '1 minute', interval '1 minute'
    ) as minute (open_time)
    where not exists (
        select 1
        from {{batch}} as candle
        where candle.symbol = spans.symbol and candle.open_time = minute.open_time
    )
    and not exists (
        select 1
        from exempt
        where
            exempt.symbol = spans.symbol
            and minute.open_time >= exempt.gap_start
            and minute.open_time < exempt.gap_end
    )
    -- Not built yet, not lost: a heal (or the streamer) that committed after the last build
    -- started. That build could not read it; the next one reads it by load time. Only rows
    -- landed before the build and still missing are holes.
    and not exists (
        select 1
        from market.klines_1m as kline
        cross join built
        where
            kline.symbol = spans.symbol
            and kline.open_time = minute.open_time
            and kline.loaded_at >= built.built_at
    )
    and not exists (
        select 1
        from market.candles_1m_live as live
        cross join built
        where
            live.symbol = spans.symbol
            and live.open_time = minute.open_time
            and live.updated_at >= built.built_at
    )

),

runs as (

    select
        symbol,
        open_time,
        open_time - interval '1 minute'
        * row_number() over (partition by symbol order by open_time) as run_key
    from missing

)

select
    symbol,
    min(open_time) as first_missing,
    max(open_time) as last_missing,
    count(*) as minutes_missing
from runs
group by symbol, run_key
order by symbol, first_missing
