-- Per symbol: the unified series' first and last minute, the minutes it holds and where they came
-- from, the minutes missing between first and last that no halt explains (holes), the halts, and
-- the gaps still waiting for heal-gaps. %(symbols)s null means every symbol.
with series as (
    select
        symbol,
        min(open_time) as first_minute,
        max(open_time) as last_minute,
        count(*) as minutes,
        count(*) filter (where origin = 'kline') as official_minutes,
        count(*) filter (where origin <> 'kline') as live_minutes
    from analytics.candles_1m
    where %(symbols)s::text [] is null or symbol = any(%(symbols)s::text [])
    group by symbol
),

halts as (
    select
        series.symbol,
        count(gaps.gap_start) as halts,
        coalesce(sum(
            extract(epoch from
                least(gaps.gap_end, series.last_minute + interval '1 minute')
                - greatest(gaps.gap_start, series.first_minute)
            ) / 60
        ) filter (where gaps.gap_start is not null), 0)::bigint as halted_minutes
    from series
    left join market.ingest_gaps as gaps
        on
            gaps.symbol = series.symbol
            and gaps.reason = 'halt'
            and gaps.gap_start < series.last_minute + interval '1 minute'
            and gaps.gap_end > series.first_minute
    group by series.symbol
),

unhealed as (
    select symbol, count(*) as unhealed_gaps
    from market.ingest_gaps
    where healed_at is null and reason <> 'halt'
    group by symbol
),

sources as (
    select symbol, jsonb_object_agg(source, rows order by source) as official_sources
    from (
        select symbol, source, count(*) as rows
        from market.klines_1m
        where %(symbols)s::text [] is null or symbol = any(%(symbols)s::text [])
        group by symbol, source
    ) as counted
    group by symbol
)

select
    series.symbol,
    series.first_minute,
    series.last_minute,
    series.minutes,
    (extract(epoch from series.last_minute - series.first_minute) / 60)::bigint + 1
    - series.minutes - halts.halted_minutes as holes,
    halts.halts,
    halts.halted_minutes,
    coalesce(unhealed.unhealed_gaps, 0) as unhealed_gaps,
    series.official_minutes,
    series.live_minutes,
    coalesce(sources.official_sources, '{}'::jsonb) as official_sources
from series
inner join halts on series.symbol = halts.symbol
left join unhealed on series.symbol = unhealed.symbol
left join sources on series.symbol = sources.symbol
order by series.symbol
