-- What a database's owner does not own yet in its public schema (tables, views, sequences),
-- and how ALTER names each kind. Sequences owned by a column follow their table, so tables
-- come first and such sequences are skipped.
select case c.relkind when 'S' then 'sequence' when 'v' then 'view'
        when 'm' then 'materialized view' else 'table' end, c.relname
from pg_class as c
join pg_namespace as n on n.oid = c.relnamespace
where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'S')
    and c.relowner <> (select oid from pg_roles where rolname = %s)
    and not exists (
        select from pg_depend as d
        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i')
            and d.refclassid = 'pg_class'::regclass
    )
order by c.relkind = 'S', c.relname
