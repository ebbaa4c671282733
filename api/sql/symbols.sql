-- Every symbol the platform holds (live, official or listed by exchangeInfo), with its status.
with recursive
live as (
    (select symbol from market.candles_1m_live order by symbol limit 1)
    union all
    select (select symbol from market.candles_1m_live where symbol > live.symbol
            order by symbol limit 1)
    from live where live.symbol is not null
),
official as (
    (select symbol from market.klines_1m order by symbol limit 1)
    union all
    select (select symbol from market.klines_1m where symbol > official.symbol
            order by symbol limit 1)
    from official where official.symbol is not null
),
held as (
    select symbol from live where symbol is not null
    union
    select symbol from official where symbol is not null
    union
    select symbol from market.symbols
)
select held.symbol, s.status, s.base_asset, s.quote_asset, s.filters,
    (s.first_day - date '1970-01-01')::bigint * 86400000 as first_day_ms
from held
left join market.symbols as s using (symbol)
order by 1
