    select c.open_time, {c_fields}
    from analytics.{child_table} as c
    where c.symbol = %(symbol)s and c.is_final
        and c.open_time >= (select b0 from bounds)
        and c.open_time >= %(mlo)s and c.open_time < %(mhi)s
    union all
