-- Rows: runs of minutes missing for an active symbol inside the window, outside unhealed gaps
-- and halts.
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

    select date_trunc('minute', max(candle.built_at)) as horizon
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

present as (

    select
        candle.symbol,
        candle.open_time,
        lag(candle.open_time) over (
            partition by candle.symbol order by candle.open_time
        ) as previous_open_time
    from {{batch}} as candle
    inner join bounds
        on candle.symbol = bounds.symbol
        and candle.open_time >= bounds.lower_bound
        and candle.open_time < bounds.upper_bound

),

spans as (

    select
        symbol,
        previous_open_time + interval '1 minute' as span_start,
        open_time as span_end
    from present
    where open_time > previous_open_time + interval '1 minute'

    union all

    select
        bounds.symbol,
        bounds.lower_bound as span_start,
        coalesce(min(present.open_time), bounds.upper_bound) as span_end
    from bounds
    left join present on present.symbol = bounds.symbol
    group by bounds.symbol, bounds.lower_bound, bounds.upper_bound
    having coalesce(min(present.open_time), bounds.upper_bound) > bounds.lower_bound

    union all

    select
        bounds.symbol,
        max(present.open_time) + interval '1 minute' as span_start,
        bounds.upper_bound as span_end
    from bounds
    inner join present on present.symbol = bounds.symbol
    group by bounds.symbol, bounds.upper_bound
    having max(present.open_time) + interval '1 minute' < bounds.upper_bound

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
        from exempt
        where
            exempt.symbol = spans.symbol
            and minute.open_time >= exempt.gap_start
            and minute.open_time < exempt.gap_end
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
