{#- Asserts that a recently built candle's minute count is consistent with its bucket and that a
    candle called complete really holds every minute of it, contiguous, in candles_1m.
    candles_1m is a view over tables the streamer and the loaders keep writing, so a candle one
    of whose minutes was written after the newest write it was built from (its
    source_changed_at: a minute that closed, or whose kline landed, as the build ran) is left to
    the next build, which reads that minute (each build re-reads dbt's look-back): the candle is
    checked once rebuilt. Every other candle is checked, however recently its minutes were
    written. A candle built before source_changed_at existed (null) keeps the old rule, a
    minute written within the look-back before its build. -#}
{% test candles_complete_contiguous(model, minutes, minutes_model) %}

with

recent as (

    select * from {{ recently_built(model) }} as recent

),

counted as (

    select
        recent.symbol,
        recent.open_time,
        recent.minute_count,
        recent.kline_minute_count,
        recent.is_complete,
        recent.built_at,
        recent.source_changed_at,
        inside.present,
        inside.first_minute,
        inside.last_minute,
        inside.newest_change
    from recent
    -- One index range scan per candle (the limit clause keeps it a lateral probe): the cost
    -- follows the rows the run wrote, not the size of candles_1m.
    cross join lateral (
        select
            count(*) as present,
            min(one_minute.open_time) as first_minute,
            max(one_minute.open_time) as last_minute,
            max(one_minute.built_at) as newest_change
        from {{ minutes_model }} as one_minute
        where
            one_minute.symbol = recent.symbol
            and one_minute.open_time >= recent.open_time
            and one_minute.open_time < recent.open_time + interval '{{ minutes }} minutes'
        limit all offset 0
    ) as inside

)

select *
from counted
where
    (
        newest_change is null
        or newest_change <= coalesce(
            source_changed_at,
            built_at - cast({{ dbt.string_literal(var('lookback')) }} as interval)
        )
    )
    and (
        minute_count != present
        or kline_minute_count > minute_count
        or is_complete != (minute_count = {{ minutes }})
        or (
            is_complete
            and (
                first_minute != open_time
                or last_minute != open_time + interval '{{ minutes - 1 }} minutes'
            )
        )
    )

{% endtest %}
