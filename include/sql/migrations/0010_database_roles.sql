-- Least-privilege roles (DESIGN.md "Database roles"): each part connects as its own role.
--   streamer_writer   writes market.candles_1m_live and market.ingest_gaps
--   history_loader    writes market.klines_1m, market.ingest_gaps and its bookkeeping
--   dbt_builder       owns the analytics schemas, reads market, prunes consumed dirty ranges
--   analytics_reader  reads market and analytics, nothing else (the read API, quality checks)
-- Roles belong to the server, not the database: one made by an earlier database is kept.
-- They get no password here: include/migrate.py sets each one's (generated into DATA_DIR, or
-- given in the environment) after the migrations; a role without one cannot log in at all.
-- Table privileges and analytics' ownership are in include/sql/grants.sql, applied after every
-- migration run.
do $$
declare
    role_name text;
begin
    foreach role_name in array array[
        'streamer_writer', 'history_loader', 'dbt_builder', 'analytics_reader'
    ] loop
        if not exists (select from pg_roles where rolname = role_name) then
            execute format(
                'create role %I login nosuperuser nocreatedb nocreaterole noinherit', role_name
            );
        end if;
    end loop;
    -- An administrator that is not a superuser (a managed server) hands the analytics schemas
    -- to dbt_builder and sets its default privileges only as a member of it.
    if not (select rolsuper from pg_roles where rolname = current_user) then
        execute format('grant dbt_builder to %I', current_user);
    end if;
end;
$$;

-- dbt builds into analytics and analytics_staging, which dbt_builder owns (include/sql/grants.sql
-- hands them, and what earlier builds made there, to it on every migrate).
create schema if not exists analytics_staging;

-- What dbt_builder (or the administrator) creates in analytics later is readable by the
-- reader, and by history_loader (reconcile compares analytics.candles_1m with the klines).
alter default privileges for role dbt_builder in schema analytics
    grant select on tables to analytics_reader, history_loader;
alter default privileges in schema analytics
    grant select on tables to analytics_reader, history_loader;
-- Tables the administrator's later migrations add to market (or partitions of them) are
-- readable by every role; writes are granted table by table in include/sql/grants.sql.
alter default privileges in schema market
    grant select on tables to streamer_writer, history_loader, dbt_builder, analytics_reader;
