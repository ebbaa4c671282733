-- The one 1-minute series: the official kline where there is one, else the live candle. The
-- live table holds one row per minute that the streamer overwrites as the minute goes on, so a
-- closed candle has already replaced its open version; only the kline can beat it.
-- One flat UNION ALL with no WITH clause, so the views over it are flattened into the queries
-- that read them (see stg_market__klines_1m).
select
    {{ candle_columns('official') }},
    cast('kline' as text) as origin,
    true as is_final,
    official.loaded_at as changed_at
from {{ ref('stg_market__klines_1m') }} as official

union all

select
    {{ candle_columns('live') }},
    case when live.is_closed then 'live_closed' else 'live_open' end as origin,
    live.is_closed as is_final,
    live.updated_at as changed_at
from {{ ref('stg_market__candles_1m_live') }} as live
-- A probe per live row (a scalar subquery, which PostgreSQL never turns into a join): as an
-- anti-join, a read of a few live minutes inside another query's loop (a roll-up's bucket, a
-- test's candle) was planned as a hash of the symbol's every kline, once per loop. As a lateral
-- join (its earlier form) each probe also went through a join and a subquery scan: 2.8 against
-- 2.1 us a live row, a month of 20 symbols' live minutes read whole.
where (
    select true
    from {{ ref('stg_market__klines_1m') }} as official
    where
        official.symbol = live.symbol
        and official.open_time = live.open_time
    limit 1
) is null
