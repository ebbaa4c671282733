-- Each asked symbol's latest price: the close of its newest minute, live or official (symbols
-- with no candle are left out).
select s.symbol, round(newest.close, 8)::text
from unnest(%(symbols)s::text[]) as s (symbol)
cross join lateral (
    select found.close
    from (
        (
            select l.close, l.open_time from market.candles_1m_live as l
            where l.symbol = s.symbol
            order by l.open_time desc
            limit 1
        )
        union all
        (
            select k.close, k.open_time from market.klines_1m as k
            where k.symbol = s.symbol
            order by k.open_time desc
            limit 1
        )
    ) as found
    order by found.open_time desc
    limit 1
) as newest
order by s.symbol
