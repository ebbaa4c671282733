-- No WITH clause here, in int_candles_1m_unified or in candles_1m: PostgreSQL flattens a view
-- read inside another query only when it has none, and analytics.candles_1m, a view over these,
-- is read by every 1m request: flat, a symbol's newest or oldest minutes come through the
-- primary keys in order (a merge append) instead of every minute it has being read and sorted.
select
    {{ candle_columns() }},
    source as kline_source,
    loaded_at
from {{ source('market', 'klines_1m') }}
