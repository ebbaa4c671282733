-- A stored interval's klines summed into candles of a fixed length (bucket_start's rule:
-- open = t - (t + shift) mod size, shift = the zone's offset - the interval's origin), with
-- how many stored rows each holds; the decimals keep the stored rows' 8 places.
-- (api/queries.py fills in the inner statement: the stored interval's klines.)
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
    select k.*, k.t - ((k.t + %(shift)s) %% %(size)s + %(size)s) %% %(size)s as bucket
    from ({inner}) as k (t, o, h, l, c, v, q, n, tv, tq)
    where k.t >= %(first)s
) as r
group by r.bucket
order by r.bucket
