-- A span heal-gaps found or repaired; a gap another writer recorded keeps its reason
-- unless REST proved it a halt.
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
    'heal-gaps',
    now(),
    'heal-gaps',
    %(detail)s
)
on conflict (symbol, gap_start) do update set
    -- A halt is what REST proved, whoever saw the gap first: it keeps its own span and reason.
    gap_end = case
        when excluded.reason = 'halt' then excluded.gap_end
        else greatest(g.gap_end, excluded.gap_end)
    end,
    reason = case
        when excluded.reason = 'halt' or g.detected_by = 'heal-gaps' then excluded.reason
        else g.reason
    end,
    healed_at = now(),
    healed_by = 'heal-gaps',
    detail = excluded.detail
