-- The runs of minutes dbt rebuilt after a correction (market.rebuilt_runs, which only
-- dbt_builder writes) past the newest one this process read, oldest first: what a "rebuilt"
-- notification hints at (its payload names nothing the API trusts).
select
    id,
    symbol,
    (extract(epoch from first_open) * 1000)::bigint,
    (extract(epoch from end_open) * 1000)::bigint
from market.rebuilt_runs
where id > %(after)s
order by id
limit %(limit)s
