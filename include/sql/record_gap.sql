-- A span heal-gaps or a dump import found, repaired or proved (healed true), or could not
-- prove (healed null), merged into any row of the same start by market.record_gap's one rule
-- (include/sql/functions/gaps.sql).
select market.record_gap(
    symbol => %(symbol)s,
    gap_start => %(gap_start)s,
    gap_end => %(gap_end)s,
    reason => %(reason)s,
    detected_by => %(detected_by)s,
    healed => %(healed)s,
    detail => %(detail)s
)
