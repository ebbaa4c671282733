-- A view, not a copy: the minute is stored once, in market.klines_1m (or, until its kline
-- lands, in market.candles_1m_live), and read through here with no build between a write and
-- its reader. A table held every minute a second time (117 MB per symbol-year, issue #21).
-- No WITH clause, so it is flattened into the queries that read it (see stg_market__klines_1m).
{{ config(
    materialized='view_in_place',
    meta={'partition_by_month': false}
) }}

select
    {{ candle_columns() }},
    1 as minute_count,
    case when origin = 'kline' then 1 else 0 end as kline_minute_count,
    true as is_complete,
    is_final,
    origin,
    changed_at as source_changed_at,
    -- A view is never built: a minute is as new as its source row, which is what the roll-ups
    -- above read to find what changed.
    changed_at as built_at
from {{ ref('int_candles_1m_unified') }}
