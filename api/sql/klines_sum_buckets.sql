-- A stored interval's klines summed into candles (bucket_start's rule, api/klines/statements.py fills in
-- {bucket}: a fixed length's open = t - (t + shift) mod size, shift = the zone's offset - the
-- interval's origin; a month's, its first day in the zone), with how many stored rows each
-- holds. The stored rows come exact and each candle is rounded to Binance's 8 places once summed
-- (Binance sums a candle's trades, then formats it: a sum of rounded minutes can be 1e-8 off).
-- Summed here, not in Python: a 1M candle in a zone off the day (timeZone=0:01) is 44,640
-- minutes.
-- (api/klines/statements.py fills in the inner statement: the stored interval's klines.)
select
    r.bucket,
    round((array_agg(r.o order by r.t))[1], 8)::text,
    round(max(r.h), 8)::text,
    round(min(r.l), 8)::text,
    round((array_agg(r.c order by r.t desc))[1], 8)::text,
    round(sum(r.v), 8)::text,
    round(sum(r.q), 8)::text,
    sum(r.n)::bigint,
    round(sum(r.tv), 8)::text,
    round(sum(r.tq), 8)::text,
    count(*)
from (
    select k.*, {bucket} as bucket
    from ({inner}) as k (t, o, h, l, c, v, q, n, tv, tq)
    where k.t >= %(first)s
) as r
group by r.bucket
order by r.bucket
