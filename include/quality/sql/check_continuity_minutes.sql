-- Rows: runs of minutes missing for an active symbol inside the window, outside unhealed gaps
-- and halts. analytics.candles_1m is a view over the sources, so a minute is there the moment
-- its row commits. A symbol is checked from its first candle on, up to the minute the last build
-- ran in (a minute before it that no source holds is missing, not late), or up
-- to its own newest final minute when the market runs ahead of the host's clock (a replay at
-- speed): the data's own time, not only the host's. Each symbol by its own, so a quiet symbol
-- whose last minute is still being proven is not a hole.
with

{params},

active as (

    {active_symbols}

),

-- The time the last build ran: the 5m mart's newest row (analytics.candles_1m is a view, and
-- its rows carry their sources' write times).
built as (

    select date_trunc('minute', max(candle.built_at)) as horizon
    from analytics.candles_5m as candle

),

bounds as (

    select
        active.symbol,
        ends.lower_bound,
        least(
            params.window_end,
            greatest(built.horizon, ends.newest_final + interval '1 minute')
        ) as upper_bound
    from active
    cross join params
    cross join built
    -- Each end from the two tables under analytics.candles_1m, by their primary keys: every
    -- minute of the view is a kline or a live row, and every kline and every live minute is in
    -- it (the kline where both are), so their ends are its ends; through the view a correlated
    -- min() reads the symbol's whole history. Every look-up is bounded by the window, so only
    -- the partitions it needs are planned and read, however long the history:
    -- - the symbol's first minute matters only inside the window: any minute before it makes
    --   the window's start the bound, and that is asked of the klines first (a symbol's history
    --   is there), the live table only for a symbol that has none. Asked as the newest minute
    --   before the window (not "exists"): one index entry of the month before it, where an
    --   exists over a small month's partition was planned as a scan of that month;
    -- - its newest final minute matters only from the window's start on (an older one leaves
    --   the bound at or before the start: no span either way). Newest partition first, stopping
    --   at the first final row (open ones are the newest few): a kline is final, a live minute
    --   once closed.
    cross join lateral (
        select
            case
                when
                    (
                        select kline.open_time from market.klines_1m as kline
                        where
                            kline.symbol = active.symbol
                            and kline.open_time < params.window_start
                        order by kline.open_time desc limit 1
                    ) is not null
                    or (
                        select live.open_time from market.candles_1m_live as live
                        where
                            live.symbol = active.symbol
                            and live.open_time < params.window_start
                        order by live.open_time desc limit 1
                    ) is not null
                    then params.window_start
                else least(
                    (
                        select kline.open_time from market.klines_1m as kline
                        where
                            kline.symbol = active.symbol
                            and kline.open_time >= params.window_start
                            and kline.open_time < params.window_end
                        order by kline.open_time limit 1
                    ),
                    (
                        select live.open_time from market.candles_1m_live as live
                        where
                            live.symbol = active.symbol
                            and live.open_time >= params.window_start
                            and live.open_time < params.window_end
                        order by live.open_time limit 1
                    )
                )
            end as lower_bound,
            greatest(
                (
                    select kline.open_time from market.klines_1m as kline
                    where
                        kline.symbol = active.symbol
                        and kline.open_time >= params.window_start
                    order by kline.open_time desc limit 1
                ),
                (
                    select live.open_time from market.candles_1m_live as live
                    where
                        live.symbol = active.symbol
                        and live.open_time >= params.window_start
                        and live.is_closed
                    order by live.open_time desc limit 1
                )
            ) as newest_final
        -- Kept a subquery (not pulled up), so the look-ups run once per symbol, not again for
        -- the filter below.
        offset 0
    ) as ends
    where ends.lower_bound is not null

),

-- Each symbol's minutes per UTC day inside its bounds, counted in one pass: the key is unique
-- (each source's primary key, and the view takes a live minute only where no kline is), so a
-- day holding as many rows as it has minutes has no hole, and only the other days are looked
-- at minute by minute. The same pass counts every minute of the window, whatever its symbol:
-- the check's tally, and the report's rows of the view (include/quality/runner.py), which a
-- count of their own read once more (at 2,000 symbols, a live minute costs the view a probe of
-- the klines: 7 s a read).
present as materialized (

    select
        candle.symbol,
        date_bin(interval '1 day', candle.open_time, timestamptz '1970-01-01 00:00:00+00') as day,
        count(*) filter (
            where
                candle.open_time >= bounds.lower_bound
                and candle.open_time < bounds.upper_bound
        ) as minutes_present,
        count(*) as minutes_in_window
    from {{batch}} as candle
    cross join params
    left join bounds
        on candle.symbol = bounds.symbol
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
    cross join params
    cross join lateral generate_series(
        spans.span_start, spans.span_end - interval '1 minute', interval '1 minute'
    ) as minute (open_time)
    where not exists (
        select 1
        from {{batch}} as candle
        -- The window's bounds are implied, stated so only its partitions are planned.
        where
            candle.symbol = spans.symbol
            and candle.open_time = minute.open_time
            and candle.open_time >= params.window_start
            and candle.open_time < params.window_end
    )
    and not exists (
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

),

-- Every row carries the tally: the window's minutes compared, none deferred; with nothing
-- missing it is one row of the tally alone (include/quality/expectation.py).
tally as (

    select
        coalesce(sum(present.minutes_in_window), 0) as compared,
        0 as deferred
    from present

)

select
    offending.*,
    tally.compared as _quality_compared,
    tally.deferred as _quality_deferred
from tally
left join (
    select
        runs.symbol,
        min(runs.open_time) as first_missing,
        max(runs.open_time) as last_missing,
        count(*) as minutes_missing
    from runs
    group by runs.symbol, runs.run_key
) as offending on true
order by offending.symbol, offending.first_missing
