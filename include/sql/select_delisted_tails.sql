-- Symbols that left TRADING while the streamer held their newest minute: that minute (often
-- still open) and the idle minutes the streamer never got to close become official only when
-- REST's klines replace them. Once an official kline is as new as the newest live minute the
-- symbol drops out, so a delisted symbol costs one REST page, once.
select s.symbol, live.open_time
from market.symbols as s
cross join lateral (
    select l.open_time
    from market.candles_1m_live as l
    where l.symbol = s.symbol
    order by l.open_time desc
    limit 1
) as live
where
    s.status <> 'TRADING'
    and not exists (
        select 1
        from market.klines_1m as k
        where k.symbol = s.symbol and k.open_time >= live.open_time
    )
order by s.symbol
