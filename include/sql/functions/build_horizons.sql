-- An incremental dbt build's exact horizon (migration 0022, dbt_project/macros/build_horizons.sql).
-- Every source row carries its writer transaction's start time (now(): klines_1m.loaded_at,
-- candles_1m_live.updated_at, timeframe_dirty_ranges.marked_at) and becomes visible when that
-- transaction commits. A build that reads at time R sees every transaction committed by then;
-- those still open at R started at their xact_start or later, and those starting after R write
-- rows stamped after R. So the next build need read only rows stamped from
-- least(R, the oldest xact_start open at R) on. pg_stat_activity shows another role's
-- xact_start only to a superuser or pg_read_all_stats: the function runs as its owner (the
-- administrator who migrates), and returns null, meaning "not known, use the look-back",
-- when even that owner cannot see a backend that may write.
--
-- Only backends that may write a source table count: a reader's long transaction (the API,
-- the quality checks, a user's psql) must not hold every build back. Two seconds earlier than
-- computed: a backend stamps its transaction a moment before pg_stat_activity shows it.
create or replace function market.write_horizon()
returns timestamptz
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    oldest timestamptz;
    unseen boolean;
begin
    -- pg_stat_activity is read once per transaction and kept: read it afresh.
    perform pg_stat_clear_snapshot();
    select
        min(a.xact_start),
        coalesce(bool_or(a.query = '<insufficient privilege>'), false)
    into oldest, unseen
    from pg_stat_activity as a
    where a.datname = current_database()
        and a.pid <> pg_backend_pid()
        and (
            a.query = '<insufficient privilege>'  -- its type and role hidden too
            or a.backend_type = 'client backend'
            and (
                has_table_privilege(a.usesysid, 'market.klines_1m', 'INSERT, UPDATE')
                or has_table_privilege(a.usesysid, 'market.candles_1m_live', 'INSERT, UPDATE')
                or has_table_privilege(a.usesysid, 'market.timeframe_dirty_ranges', 'INSERT')
            )
        );
    if unseen then
        return null;
    end if;
    return least(clock_timestamp(), oldest) - interval '2 seconds';
end;
$$;

-- Pre-hook of an incremental model, before its read: the horizon of this build, pending.
create or replace function market.begin_build_horizon(p_model text)
returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    insert into market.build_horizons (model, pending)
    values (p_model, market.write_horizon())
    on conflict (model) do update set pending = excluded.pending, updated_at = now();
$$;

-- Post-hook, in the same transaction: the build read what it had to; the next one starts at
-- its horizon (null: the look-back).
create or replace function market.commit_build_horizon(p_model text)
returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    update market.build_horizons
    set horizon = pending, updated_at = now()
    where model = p_model;
$$;

-- The change time from which an incremental model's next build re-reads its sources: the
-- previous build's horizon; where none was kept (a build before migration 0022, or the writers'
-- transactions unseen) that build's start less the look-back; -infinity before any build.
-- The one owner of the rule: dbt's incremental_since() macro and the build's announcement of
-- corrected minutes (include/timeframes.corrections_since) both call it.
create or replace function market.incremental_since(p_model regclass, p_lookback interval)
returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    since timestamptz;
begin
    select b.horizon into since
    from market.build_horizons as b
    where b.model = (
        select format('%s.%s', n.nspname, c.relname)
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        where c.oid = p_model
    );
    if since is null then
        execute format('select max(built_at) - $1 from %s', p_model) into since using p_lookback;
    end if;
    return coalesce(since, '-infinity');
end;
$$;

-- Who may call them: dbt_builder (grants.sql), no one else.
revoke execute on function market.write_horizon() from public;
revoke execute on function market.begin_build_horizon(text) from public;
revoke execute on function market.commit_build_horizon(text) from public;
revoke execute on function market.incremental_since(regclass, interval) from public;
