-- A futures market's mark-, index- or premium-index-price minutes ({table}) rolled up into
-- fixed buckets ({bucket} from {origin}): first open, highest, lowest, last close, samples.
select (extract(epoch from b) * 1000)::bigint as t,
    (array_agg(open order by open_time))[1]::text,
    max(high)::text, min(low)::text,
    (array_agg(close order by open_time desc))[1]::text,
    sum(sample_count)::bigint
from (
    select date_bin({bucket}, open_time, {origin}) as b, *
    from {table}
    where symbol = %(symbol)s and open_time >= %(lo)s and open_time <= %(hi)s
) as minutes
group by b
order by b {direction}
limit %(limit)s
