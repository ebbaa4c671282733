        and not exists (
            select from analytics.{child_table} as c
            where c.symbol = m.symbol and c.is_final
                and c.open_time = date_bin({child_bucket}, m.open_time, {origin})
                -- Changes no answer (a kept candle's children start at or after mlo), but
                -- lets the probe skip the months before it instead of opening every one.
                and c.open_time >= %(mlo)s
        )
