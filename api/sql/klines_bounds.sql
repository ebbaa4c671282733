    select
        t_a,
        case when t_a = '-infinity' then t_a
            else date_bin({bucket}, t_a + interval '1 minute', {origin}) end as b0
    from (
        select coalesce((
            select open_time from analytics.candles_1m
            where symbol = %(symbol)s and is_final and open_time >= %(mlo)s
            order by open_time desc limit 1
        ), '-infinity'::timestamptz) as t_a
        -- Not pulled up: each use of t_a above would look the watermark up again.
        offset 0
    ) as watermark
