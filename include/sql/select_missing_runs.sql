-- Runs of minutes in [start, end) that a 1-minute table ({table}: market.klines_1m, or a
-- market's klines or price klines) does not hold for one symbol, as [run_start, run_end): what a
-- backfill of that range still has to fetch.
with held as (
    select open_time
    from {table}
    where symbol = %(symbol)s and open_time >= %(start)s and open_time < %(end)s
),

bounded as (
    select
        open_time,
        lag(open_time) over (order by open_time) as previous_open_time
    from held
),

runs as (
    select
        coalesce(previous_open_time + interval '1 minute', %(start)s) as run_start,
        open_time as run_end
    from bounded
    union all
    select coalesce(max(open_time) + interval '1 minute', %(start)s), %(end)s
    from held
)

select run_start, run_end
from runs
where run_end > run_start
order by run_start
