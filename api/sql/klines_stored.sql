    select open_time, {fields}
    from analytics.{table}
    where symbol = %(symbol)s
        and open_time < (select b0 from bounds)
        and open_time >= %(lo)s and open_time <= %(hi)s
    order by open_time {direction}
    limit %(limit)s
