with

-- Not materialized: an incremental run reads a few keys through the indexes, never all history.
klines as not materialized (

    select * from {{ ref('stg_market__klines_1m') }}

),

live as (

    select * from {{ ref('stg_market__candles_1m_live') }}

),

official as (

    select
        {{ candle_columns() }},
        'kline' as origin,
        true as is_final,
        loaded_at as changed_at
    from klines

),

-- The live table holds one row per minute that the streamer overwrites as the minute goes on,
-- so a closed candle has already replaced its open version; only the kline can beat it.
live_without_kline as (

    select
        {{ candle_columns('live') }},
        case when live.is_closed then 'live_closed' else 'live_open' end as origin,
        live.is_closed as is_final,
        live.updated_at as changed_at
    from live
    -- A lateral probe per live row (the limit keeps it from being flattened): an anti-join
    -- may hash all of history to exclude the few live minutes an incremental run reads.
    left join lateral (
        select true as has_kline
        from klines
        where
            klines.symbol = live.symbol
            and klines.open_time = live.open_time
        limit 1
    ) as official_minute on true
    where official_minute.has_kline is null

),

final as (

    select * from official
    union all
    select * from live_without_kline

)

select * from final
