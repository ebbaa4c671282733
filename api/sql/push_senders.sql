-- Which of these backends (the senders of notifications) may write the market's tables: a
-- superuser's, or a role with INSERT or UPDATE on a market table (the streamer, the loaders,
-- dbt_builder's rebuilt runs). Their notifications are the triggers'; any other login's are
-- only hints anyone could send. A backend gone meanwhile is not listed (not trusted).
select
    activity.pid,
    coalesce(role.rolsuper, false) or exists (
        select
        from pg_class as rel
        inner join pg_namespace as ns on rel.relnamespace = ns.oid
        where
            ns.nspname = 'market'
            and rel.relkind in ('r', 'p')
            and not rel.relispartition
            and has_table_privilege(activity.usesysid, rel.oid, 'INSERT, UPDATE')
    ) as trusted
from pg_stat_activity as activity
left join pg_roles as role on activity.usesysid = role.oid
where activity.pid = any(%(pids)s)
