-- Each symbol's newest closed minute, with its close and its last trade id.
select s.symbol, c.open_time, c.close::text, c.last_trade_id
from unnest(%s::text[]) as s (symbol)
cross join lateral (
    select l.open_time, l.close, l.last_trade_id from market.candles_1m_live as l
    where l.symbol = s.symbol and l.is_closed
    order by l.open_time desc
    limit 1
) as c
