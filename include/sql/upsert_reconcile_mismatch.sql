-- One differing field of one minute; repaired_at is set when the 6th parameter is true.
insert into market.reconcile_mismatches (symbol, open_time, field, ours, official, repaired_at)
values (%s, %s, %s, %s, %s, case when %s then now() end)
on conflict (symbol, open_time, field) do update set
    ours = excluded.ours,
    official = excluded.official,
    found_at = now(),
    repaired_at = excluded.repaired_at
