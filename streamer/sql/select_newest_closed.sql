-- Each symbol's newest closed minute, with its close and its last trade id; for a symbol with
-- rows but none closed (a run that died before closing its first minute), its oldest row,
-- marked not closed: the minutes from there on are missing.
select s.symbol, c.open_time, c.close::text, c.last_trade_id, c.is_closed
from unnest(%s::text[]) as s (symbol)
cross join lateral (
    select found.open_time, found.close, found.last_trade_id, found.is_closed
    from (
        (
            select l.open_time, l.close, l.last_trade_id, true as is_closed
            from market.candles_1m_live as l
            where l.symbol = s.symbol and l.is_closed
            order by l.open_time desc
            limit 1
        )
        union all
        (
            select l.open_time, l.close, l.last_trade_id, false as is_closed
            from market.candles_1m_live as l
            where l.symbol = s.symbol
            order by l.open_time
            limit 1
        )
    ) as found
    order by found.is_closed desc
    limit 1
) as c
