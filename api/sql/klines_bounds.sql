    select
        t_a,
        case when t_a = '-infinity' then t_a
            else date_bin({bucket}, t_a + interval '1 minute', {origin}) end as b0
    from (
        -- The newest minute the marts were built from as final: the end of the newest final
        -- 5m candle (analytics.candles_1m is a view, current at every read; the 5m mart is
        -- the first one dbt builds from it).
        select coalesce((
            select open_time + interval '4 minutes' from analytics.candles_5m
            where symbol = %(symbol)s and is_final and open_time >= %(mlo)s - interval '4 minutes'
            order by open_time desc limit 1
        ), '-infinity'::timestamptz) as t_a
        -- Not pulled up: each use of t_a above would look the watermark up again.
        offset 0
    ) as watermark
