-- One symbol's reconciled window: a rerun of the same window replaces its row.
insert into market.reconciliations as r (
    symbol, window_start, window_end,
    minutes_official, minutes_mismatched, minutes_repaired, minutes_unrepaired
)
values (%s, %s, %s, %s, %s, %s, %s)
on conflict (symbol, window_start, window_end) do update set
    minutes_official = excluded.minutes_official,
    minutes_mismatched = excluded.minutes_mismatched,
    minutes_repaired = excluded.minutes_repaired,
    minutes_unrepaired = excluded.minutes_unrepaired,
    reconciled_at = now()
