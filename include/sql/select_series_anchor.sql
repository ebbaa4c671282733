-- The newest minute of one symbol's 1m series (official klines and closed live candles) held at
-- or before its heal watermark, looked for no earlier than a floor: include/history/heal.py asks the
-- watermark's last day first, a bound the planner knows, so only that day's monthly partitions
-- are planned and read whatever the length of the history; the whole history only when that
-- day holds nothing (a long halt before the watermark).
select greatest(
    (
        select max(k.open_time) from market.klines_1m as k
        where
            k.symbol = %(symbol)s
            and k.open_time <= %(since)s
            and k.open_time >= %(floor)s
    ),
    (
        select max(l.open_time) from market.candles_1m_live as l
        where
            l.symbol = %(symbol)s
            and l.is_closed
            and l.open_time <= %(since)s
            and l.open_time >= %(floor)s
    )
) as open_time
