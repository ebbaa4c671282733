-- A month's index rebuild, recorded by the role that made it (market.partition_rebuilds).
insert into market.partition_rebuilds as r (
    relid, relation, rebuilt_at, writes, index_bytes_before, index_bytes_after, seconds
) values (%s::regclass, %s, now(), %s, %s, %s, %s)
on conflict (relid) do update set
    relation = excluded.relation,
    rebuilt_at = excluded.rebuilt_at,
    writes = excluded.writes,
    index_bytes_before = excluded.index_bytes_before,
    index_bytes_after = excluded.index_bytes_after,
    seconds = excluded.seconds
