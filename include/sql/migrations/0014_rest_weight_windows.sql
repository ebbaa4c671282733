-- One Binance REST request-weight budget for every process (issue 12): the streamer's repairs
-- and the batch jobs (backfill, heal-gaps, import's exchangeInfo, reconcile, planning) each
-- reserve a request's weight here before sending it, per fixed window of the server's clock,
-- so together they stay under the IP's REQUEST_WEIGHT limit (include/binance_rest.py
-- SharedWeightBudget). A row per budget and window; rows of past windows are purged after an
-- hour by the clients themselves.
create table market.rest_weight_windows (
    budget text not null,
    -- The window's length (exchangeInfo's REQUEST_WEIGHT interval) and its index since the
    -- epoch: processes that agree on both share the row.
    window_ms integer not null check (window_ms > 0),
    window_index bigint not null,
    -- Weight the processes reserved in the window (sent or in flight).
    reserved integer not null default 0 check (reserved >= 0),
    -- The highest X-MBX-USED-WEIGHT-1M any of them was told in it (what others spent too).
    seen integer not null default 0 check (seen >= 0),
    updated_at timestamptz not null default now(),
    primary key (budget, window_ms, window_index)
);
comment on table market.rest_weight_windows is
    'Binance REST request weight reserved per fixed window by every process sharing the IP.';

-- Reserve p_weight in windows p_first..p_last (a request sent near a window's edge may land on
-- either side of it, so it takes room in both), all or nothing, unless one of them has no room
-- left under p_cap: by what the processes reserved there, or by the highest count the server
-- reported in it (p_seen, this process's newest for window p_first, kept for all). The rows
-- are locked in window order, so processes reserving together queue instead of deadlocking.
-- One call per request: one round trip.
create function market.reserve_rest_weight(
    p_budget text,
    p_window_ms integer,
    p_first bigint,
    p_last bigint,
    p_weight integer,
    p_seen integer,
    p_cap integer
) returns boolean
language plpgsql
as $$
declare
    fits boolean;
begin
    insert into market.rest_weight_windows (budget, window_ms, window_index)
    select p_budget, p_window_ms, i from generate_series(p_first, p_last) as i
    order by i
    on conflict do nothing;
    perform 1
    from market.rest_weight_windows as w
    where w.budget = p_budget and w.window_ms = p_window_ms
        and w.window_index between p_first and p_last
    order by w.window_index
    for update;
    update market.rest_weight_windows as w
    set seen = p_seen
    where w.budget = p_budget and w.window_ms = p_window_ms and w.window_index = p_first
        and w.seen < p_seen;
    select bool_and(greatest(w.reserved, w.seen) + p_weight <= p_cap)
    into fits
    from market.rest_weight_windows as w
    where w.budget = p_budget and w.window_ms = p_window_ms
        and w.window_index between p_first and p_last;
    if fits then
        update market.rest_weight_windows as w
        set reserved = w.reserved + p_weight, updated_at = now()
        where w.budget = p_budget and w.window_ms = p_window_ms
            and w.window_index between p_first and p_last;
    end if;
    return fits;
end;
$$;
