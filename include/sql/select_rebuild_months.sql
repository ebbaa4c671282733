-- The finished months of a table the caller may rebuild (it owns them, or holds MAINTAIN on
-- them on PostgreSQL 17+), newest first, with what decides whether one is due
-- (include/platform/index_rebuilds.py).
select
    p.partition::text,
    coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0),
    greatest(c.reltuples, coalesce(s.n_live_tup, 0), 0)::bigint,
    r.writes,
    r.rebuilt_at
from market.month_partitions(%(table)s::regclass) as p
join pg_class as c on c.oid = p.partition
left join pg_stat_all_tables as s on s.relid = p.partition
left join market.partition_rebuilds as r
    on r.relid = p.partition and r.relation = p.partition::text
where p.month_end <= %(settled)s
    and (
        pg_has_role(c.relowner, 'MEMBER')
        or case when current_setting('server_version_num')::integer >= 170000
            then has_table_privilege(c.oid, 'MAINTAIN') else false end
    )
order by p.month_start desc
