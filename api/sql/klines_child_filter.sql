        and not exists (
            select from analytics.{child_table} as c
            where c.symbol = m.symbol and c.is_final
                and c.open_time = date_bin({child_bucket}, m.open_time, {origin})
        )
