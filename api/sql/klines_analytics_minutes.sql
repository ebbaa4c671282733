    {child_part}
    select m.open_time, {m_fields}
    from analytics.candles_1m as m
    where m.symbol = %(symbol)s
        and m.open_time >= (select b0 from bounds)
        and m.open_time >= %(mlo)s and m.open_time < %(mhi)s
        {child_filter}
