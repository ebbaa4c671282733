{{ config(pre_hook="{{ delete_dirty_ranges('1 minute') }}") }}

with

unified as not materialized (

    select * from {{ ref('int_candles_1m_unified') }}

),

-- Read only by the incremental branch below (a full build compiles it unused).
dirty_ranges as (  -- noqa: ST03

    select * from {{ ref('stg_market__timeframe_dirty_ranges') }}

),

-- Change detection by load time, not by minute: a kline healed months back is as new as the
-- live minute that just closed.
changed as (

    select * from unified
    {% if is_incremental() %}
        where changed_at >= {{ incremental_since() }}

        union

        select in_range.*
        from dirty_ranges
        -- Lateral with a limit clause (never flattened): one index range scan per declared
        -- range, whatever the planner guesses about a table it has no statistics for.
        cross join
            lateral (
                select unified.*
                from unified
                where
                    unified.symbol = dirty_ranges.symbol
                    and unified.open_time >= dirty_ranges.range_start
                    and unified.open_time < dirty_ranges.range_end
                limit all offset 0
            ) as in_range
        where dirty_ranges.marked_at >= {{ incremental_since() }}
    {% endif %}

),

final as (

    select
        {{ candle_columns() }},
        1 as minute_count,
        case when origin = 'kline' then 1 else 0 end as kline_minute_count,
        true as is_complete,
        is_final,
        origin,
        changed_at as source_changed_at,
        now() as built_at
    from changed

)

select * from final
