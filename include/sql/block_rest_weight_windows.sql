-- A 429's windows, full for every process: no reservation fits in them any more.
insert into market.rest_weight_windows as w (budget, window_ms, window_index, reserved)
select %(budget)s, %(window_ms)s, i, 1000000000
from generate_series(%(first)s::bigint, %(last)s::bigint) as i
on conflict (budget, window_ms, window_index) do update
set reserved = excluded.reserved, updated_at = now()
