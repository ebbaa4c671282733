-- Each symbol's newest closed minute, with its close and its last trade id; for a symbol with
-- rows but none closed (a run that died before closing its first minute), its oldest row,
-- marked not closed: the minutes from there on are missing.
--
-- A closed minute without a trade id (idle, or written from Binance's klines) carries the id
-- on from the newest closed minute that has one, plus every trade counted in the closed
-- minutes after it (spot trade ids run on without a hole), when each of those minutes is
-- there; else the id is unknown (null) and the start asks REST for the latest trade.
select
    s.symbol,
    c.open_time,
    c.close::text,
    coalesce(c.last_trade_id, carried.last_trade_id) as last_trade_id,
    c.is_closed
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
left join lateral (
    select (anchor.last_trade_id + sum(l.trade_count))::bigint as last_trade_id
    from (
        select a.open_time, a.last_trade_id
        from market.candles_1m_live as a
        where
            a.symbol = s.symbol
            and a.is_closed
            and a.last_trade_id is not null
            and a.open_time < c.open_time
        order by a.open_time desc
        limit 1
    ) as anchor
    inner join market.candles_1m_live as l
        on
            l.symbol = s.symbol
            and l.is_closed
            and l.open_time > anchor.open_time
            and l.open_time <= c.open_time
    group by anchor.open_time, anchor.last_trade_id
    having count(*) = extract(epoch from c.open_time - anchor.open_time)::bigint / 60
) as carried on c.is_closed and c.last_trade_id is null
