-- The invalid indexes a REINDEX CONCURRENTLY that failed midway left on the months of the
-- candle tables the caller owns.
select quote_ident(n.nspname) || '.' || quote_ident(ic.relname)
from pg_index as i
join pg_class as ic on ic.oid = i.indexrelid
join pg_class as t on t.oid = i.indrelid
join pg_namespace as n on n.oid = ic.relnamespace
join pg_inherits as h on h.inhrelid = t.oid
where not i.indisvalid
    and ic.relname ~ '_ccnew[0-9]*$'
    and pg_has_role(t.relowner, 'MEMBER')
    and n.nspname in (
        'market', 'analytics', 'market_usdm', 'analytics_usdm', 'market_coinm', 'analytics_coinm'
    )
