-- Table privileges of the roles of migration 0010 (DESIGN.md "Database roles"). Applied after
-- every migration run, so a later migration that replaces a table (partitioning, say) cannot
-- leave it without them: a table a role writes is listed here.
-- The roles are what migration 0010 makes them, even one that existed before it (roles belong
-- to the server, so an earlier install or a hand may have made one): no attribute that reaches
-- past its tables, and no membership in another role, whose rights it would hold.
do $$
declare
    r record;
begin
    for r in
        select rolname from pg_roles
        where rolname in ('streamer_writer', 'history_loader', 'dbt_builder', 'analytics_reader')
            and (rolsuper or rolcreatedb or rolcreaterole or rolreplication or rolbypassrls)
    loop
        execute format(
            'alter role %I nosuperuser nocreatedb nocreaterole noreplication nobypassrls',
            r.rolname
        );
        raise warning using message = format(
            'role %s had a server-wide privilege (superuser, createdb, createrole, replication '
            'or bypassrls): removed', r.rolname
        );
    end loop;
    for r in
        select u.rolname as member, g.rolname as granted
        from pg_auth_members as m
        join pg_roles as u on u.oid = m.member
        join pg_roles as g on g.oid = m.roleid
        where u.rolname in ('streamer_writer', 'history_loader', 'dbt_builder', 'analytics_reader')
    loop
        raise exception using message = format(
            'role %s is a member of %s, so it holds its rights: revoke %I from %I',
            r.member, r.granted, r.granted, r.member
        );
    end loop;
end;
$$;

grant usage on schema market to streamer_writer, history_loader, dbt_builder, analytics_reader;
grant select on all tables in schema market
    to streamer_writer, history_loader, dbt_builder, analytics_reader;

-- The streamer: its live candles and the gaps it detects and heals.
grant insert, update on market.candles_1m_live, market.ingest_gaps to streamer_writer;
-- Its 1s candles (SECOND_CANDLE_SYMBOLS), and their retention.
grant insert, update, delete on market.candles_1s_live to streamer_writer;

-- Every process that calls Binance REST (the streamer's repairs, the batch jobs) reserves its
-- requests' weight in the one shared budget, and purges its past windows.
grant insert, update, delete on market.rest_weight_windows to streamer_writer, history_loader;
grant execute on function market.reserve_rest_weight(
    text, integer, bigint, bigint, integer, integer, integer
) to streamer_writer, history_loader;

-- The platform's functions whose PUBLIC EXECUTE their file (include/sql/functions/) revokes:
-- the one rule for recording a gap is for the roles that write market.ingest_gaps; making a
-- candle table's months, for the roles that write into it.
grant execute on function market.record_gap(
    text, timestamptz, timestamptz, text, text, boolean, text, bigint, bigint
) to streamer_writer, history_loader;
grant execute on function market.record_gap_in(
    regclass, text, timestamptz, timestamptz, text, text, boolean, text, bigint, bigint
) to streamer_writer, history_loader;
grant execute on function
    market.make_month_partitions(regclass, timestamptz, timestamptz),
    market.make_trusted_month_partitions(regclass, timestamptz, timestamptz),
    market.ensure_month_partitions(regclass, timestamptz, timestamptz),
    market.split_default_partition(regclass)
    to streamer_writer, history_loader, dbt_builder;

-- History loads (backfill, import, heal, reconcile): klines (reconcile deletes the official
-- minutes it replaces), gaps, and their bookkeeping; the changed ranges they declare for dbt.
grant insert, update, delete on market.klines_1m to history_loader;
grant insert, update on
    market.ingest_gaps,
    market.symbols,
    market.imported_files,
    market.heal_watermarks,
    market.reconciliations,
    market.reconcile_mismatches
    to history_loader;
grant insert on market.timeframe_dirty_ranges to history_loader;
-- The live retention, once the daily klines have landed (binance_backfill_rest): it drops only
-- live days whose every minute has its kline, a day old at the least (functions/partitions.sql).
grant execute on function market.drop_live_partitions(timestamptz) to history_loader;
-- The index rebuilds of finished months (migration 0025; include/platform/index_rebuilds.py):
-- each role records its own (the table's policy), history_loader the klines', dbt_builder its
-- marts'. history_loader rebuilds a klines month through MAINTAIN on it (PostgreSQL 17+; each
-- new month gets it from functions/partitions.sql, the months made before here): MAINTAIN adds
-- nothing to stop anyone with that its UPDATE on the table does not (a lock of it whole).
grant insert, update on market.partition_rebuilds to history_loader, dbt_builder;
do $$
declare
    part regclass;
begin
    if current_setting('server_version_num')::integer < 170000 then
        return;
    end if;
    for part in
        select i.inhrelid::regclass
        from pg_inherits as i
        join pg_class as parent on parent.oid = i.inhparent
        join pg_namespace as n on n.oid = parent.relnamespace
        join pg_class as c on c.oid = i.inhrelid
        where n.nspname in ('market', 'market_usdm', 'market_coinm')
            and parent.relname in (
                'klines_1m', 'mark_price_klines_1m', 'index_price_klines_1m',
                'premium_index_klines_1m'
            )
            and pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
            and not has_table_privilege('history_loader', c.oid, 'MAINTAIN')
    loop
        execute format('grant maintain on %s to history_loader', part);
    end loop;
end;
$$;

-- dbt: forgets the dirty ranges its builds consumed; owns the analytics schemas and what is in
-- them, so its builds can replace what an earlier build made as the administrator (before the
-- roles, or restored by pg_restore --no-owner). Only what another role owns is altered: an
-- ownership change locks the relation, and this runs on every migrate.
grant delete on market.timeframe_dirty_ranges to dbt_builder;
-- The runs of minutes a build rebuilt, which the read API pushes again (migration 0019): only
-- dbt_builder announces them, and forgets them a day later.
grant insert, delete on market.rebuilt_runs to dbt_builder;
-- Each incremental model's horizon (migration 0022): recorded by its build, through the
-- functions that read every writer's transaction start (functions/build_horizons.sql).
grant execute on function
    market.write_horizon(),
    market.begin_build_horizon(text),
    market.commit_build_horizon(text),
    market.incremental_since(regclass, interval)
    to dbt_builder;
do $$
declare
    rel record;
begin
    for rel in
        select n.nspname, c.relname, c.relkind
        from pg_namespace as n
        left join pg_class as c
            on c.relnamespace = n.oid and c.relkind in ('r', 'p', 'v', 'm')
            and c.relowner <> 'dbt_builder'::regrole
        where n.nspname in (
            'analytics', 'analytics_staging', 'analytics_usdm', 'analytics_coinm',
            'analytics_staging_usdm', 'analytics_staging_coinm'
        )
            and (n.nspowner <> 'dbt_builder'::regrole or c.oid is not null)
    loop
        execute format('alter schema %I owner to dbt_builder', rel.nspname);
        if rel.relname is not null then
            execute format(
                'alter %s %I.%I owner to dbt_builder',
                case rel.relkind
                    when 'v' then 'view' when 'm' then 'materialized view' else 'table'
                end,
                rel.nspname,
                rel.relname
            );
        end if;
    end loop;
end;
$$;

-- Readers of analytics: the read API and quality checks, and reconcile (history_loader). The
-- schema is the migrations'; the marts' select is dbt's (grants in dbt_project.yml, applied by
-- every build). It is also granted here because a migrate can come before the next build: a
-- mart built before migration 0010 made these roles has no grant until one is given.
grant usage on schema analytics to analytics_reader, history_loader;
grant select on all tables in schema analytics to analytics_reader, history_loader;

-- Binance's futures markets (migration 0023): each role keeps its job per market, on the same
-- tables under the market's own schemas (DESIGN.md "Futures markets"); the loader also writes
-- the series only futures have (mark, index and premium klines, funding).
do $$
declare
    raw text;
begin
    foreach raw in array array['market_usdm', 'market_coinm'] loop
        execute format(
            'grant usage on schema %I to streamer_writer, history_loader, dbt_builder, '
            'analytics_reader',
            raw
        );
        execute format(
            'grant select on all tables in schema %I '
            'to streamer_writer, history_loader, dbt_builder, analytics_reader',
            raw
        );
        execute format(
            'grant insert, update on %1$I.candles_1m_live, %1$I.ingest_gaps to streamer_writer',
            raw
        );
        execute format(
            'grant insert, update, delete on %1$I.klines_1m, %1$I.mark_price_klines_1m, '
            '%1$I.index_price_klines_1m, %1$I.premium_index_klines_1m, %1$I.funding_rates '
            'to history_loader',
            raw
        );
        execute format(
            'grant insert, update on %1$I.ingest_gaps, %1$I.symbols, %1$I.imported_files, '
            '%1$I.heal_watermarks, %1$I.reconciliations, %1$I.reconcile_mismatches '
            'to history_loader',
            raw
        );
        execute format('grant insert on %I.timeframe_dirty_ranges to history_loader', raw);
        execute format('grant delete on %I.timeframe_dirty_ranges to dbt_builder', raw);
        -- Its builds' rebuilt runs (0024), as spot's market.rebuilt_runs.
        execute format('grant insert, delete on %I.rebuilt_runs to dbt_builder', raw);
    end loop;
end;
$$;
grant usage on schema analytics_usdm, analytics_coinm to analytics_reader, history_loader;
grant select on all tables in schema analytics_usdm, analytics_coinm
    to analytics_reader, history_loader;

-- Only the platform's roles (and the administrator, who owns it) connect to its database: not
-- PUBLIC, so no other login of the server (Airflow's metadata role `airflow`, say) reaches it.
-- Roles belong to the server: whoever can log in anywhere could otherwise connect here, send
-- notifications on the API's channel and hold the server's notification queue.
do $$
begin
    if pg_has_role(
        (select datdba from pg_database where datname = current_database()), 'USAGE'
    ) or (select rolsuper from pg_roles where rolname = current_user) then
        execute format('revoke connect on database %I from public', current_database());
        execute format(
            'grant connect on database %I to streamer_writer, history_loader, dbt_builder, '
            'analytics_reader',
            current_database()
        );
    else
        raise warning using message = format(
            'not the owner of database %s: revoke CONNECT from PUBLIC on it by hand',
            current_database()
        );
    end if;
end;
$$;
