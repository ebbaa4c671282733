-- include/platform/live.py summary(): one line for a market of many symbols. Only rows
-- written in the last hour are read (the updated_at index), so it costs the same after a week.
select
    count(distinct symbol),
    count(distinct symbol) filter (where open_time >= now() - interval '10 minutes'),
    count(*) filter (where not is_closed and open_time < now() - %(late)s),
    max(open_time) filter (where is_closed),
    now() - max(updated_at)
from market.candles_1m_live
where updated_at >= now() - interval '1 hour'
