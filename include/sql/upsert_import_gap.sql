-- A span a dump import left out: a halt REST proved (a fact, settled at once) or idle minutes
-- REST could not prove (open, for heal-gaps to fetch). A re-import writes the same row again.
insert into market.ingest_gaps as g (
    symbol,
    gap_start,
    gap_end,
    reason,
    detected_by,
    healed_at,
    healed_by,
    detail
)
values (
    %(symbol)s,
    %(gap_start)s,
    %(gap_end)s,
    %(reason)s,
    'import',
    case when %(reason)s = 'halt' then now() end,
    case when %(reason)s = 'halt' then 'import' end,
    %(detail)s
)
on conflict (symbol, gap_start) do update set
    gap_end = greatest(g.gap_end, excluded.gap_end),
    -- A halt is what REST proved, whoever saw the span first.
    reason = case when excluded.reason = 'halt' then 'halt' else g.reason end,
    healed_at = case when excluded.reason = 'halt' then now() else g.healed_at end,
    healed_by = case when excluded.reason = 'halt' then 'import' else g.healed_by end,
    detail = excluded.detail
