-- A stored interval's klines summed into candles (bucket_start's rule, api/klines/statements.py fills in
-- {bucket}: a fixed length's open = t - (t + shift) mod size, shift = the zone's offset - the
-- interval's origin; a month's, its first day in the zone), with how many stored rows each
-- holds; the decimals keep the stored rows' 8 places. Summed here, not in Python: a 1M candle
-- in a zone off the day (timeZone=0:01) is 44,640 minutes.
-- (api/klines/statements.py fills in the inner statement: the stored interval's klines.)
select
    r.bucket,
    (array_agg(r.o order by r.t))[1],
    max(r.h::numeric)::text,
    min(r.l::numeric)::text,
    (array_agg(r.c order by r.t desc))[1],
    sum(r.v::numeric)::text,
    sum(r.q::numeric)::text,
    sum(r.n)::bigint,
    sum(r.tv::numeric)::text,
    sum(r.tq::numeric)::text,
    count(*)
from (
    select k.*, {bucket} as bucket
    from ({inner}) as k (t, o, h, l, c, v, q, n, tv, tq)
    where k.t >= %(first)s
) as r
group by r.bucket
order by r.bucket
