-- The index rebuilds of finished months (include/platform/index_rebuilds.py): which partition
-- of a candle table had its indexes rebuilt, when, and what the rebuild took off. A month's
-- primary key loaded a day (or a chunk) at a time per symbol is left with half-full pages
-- (docs/architecture.md "Storage"); one REINDEX CONCURRENTLY once the month is over packs it.
-- A row is the record of the role that rebuilt the partition: history_loader for the klines
-- (PostgreSQL 17+'s MAINTAIN on each month, grants.sql), dbt_builder for its marts. Each may
-- read and write only the rows of partitions it may rebuild (the policy), so neither can mark
-- the other's months rebuilt and keep them from being packed.
create table market.partition_rebuilds (
    relid oid primary key,
    relation text not null,
    rebuilt_at timestamptz not null,
    -- The partition's inserts + updates + deletes counted by PostgreSQL's statistics when the
    -- rebuild began: the month is rebuilt again once as many more as a tenth of its rows came.
    writes bigint not null,
    index_bytes_before bigint not null,
    index_bytes_after bigint not null,
    seconds double precision not null
);

comment on table market.partition_rebuilds is
    'Index rebuilds of finished months of the candle tables (REINDEX CONCURRENTLY), by the role that rebuilt them.';

alter table market.partition_rebuilds enable row level security;

create policy rebuilder on market.partition_rebuilds
    using (
        exists (
            select from pg_catalog.pg_class as c
            where c.oid = relid
                and (
                    pg_catalog.pg_has_role(c.relowner, 'MEMBER')
                    or case
                        when pg_catalog.current_setting('server_version_num')::integer >= 170000
                            then pg_catalog.has_table_privilege(c.oid, 'MAINTAIN')
                        else false
                    end
                )
        )
    );
