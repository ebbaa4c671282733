-- The shared Binance REST request-weight budget (docs/history.md; the REST client's
-- SharedWeightBudget): the one function every process reserves a request's weight through.
-- Applied by every `migrate` after the migrations (create or replace): this body lives here
-- only (migration 0014 made its first version, with the table market.rest_weight_windows).
--
-- Reserve p_weight in windows p_first..p_last (a request sent near a window's edge may land on
-- either side of it, so it takes room in both), all or nothing, unless one of them has no room
-- left under p_cap: by what the processes reserved there, or by the highest count the server
-- reported in it (p_seen, this process's newest for window p_first, kept for all). The rows
-- are locked in window order, so processes reserving together queue instead of deadlocking.
-- One call per request: one round trip.
create or replace function market.reserve_rest_weight(
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

-- Who may call it: the roles that call Binance REST and write market.rest_weight_windows, no
-- one else (PUBLIC's default EXECUTE revoked here; grants.sql grants it to them).
revoke execute on function market.reserve_rest_weight(
    text, integer, bigint, bigint, integer, integer, integer
) from public;
