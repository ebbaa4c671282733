-- No WITH clause: analytics.candles_1m reads this view on every request (see
-- stg_market__klines_1m).
select
    {{ candle_columns() }},
    is_closed,
    updated_at
from {{ source('market', 'candles_1m_live') }}
