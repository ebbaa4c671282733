-- Before dbt's first build (no analytics.candles_1m view yet): every minute from the tables,
-- the official kline where there is one, else the live candle.
    select k.open_time, {k_fields}
    from market.klines_1m as k
    where k.symbol = %(symbol)s
        and k.open_time >= %(mlo)s and k.open_time < %(mhi)s
    union all
    select l.open_time, {l_fields}
    from market.candles_1m_live as l
    where l.symbol = %(symbol)s
        and l.open_time >= %(mlo)s and l.open_time < %(mhi)s
        and not exists (
            select from market.klines_1m as k
            where k.symbol = l.symbol and k.open_time = l.open_time
                -- The same rows (l.open_time >= mlo): the months before it are not opened.
                and k.open_time >= %(mlo)s
        )
