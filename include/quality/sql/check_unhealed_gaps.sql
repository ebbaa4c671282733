-- Rows: recorded gaps not healed yet that overlap the window (reported, not a failure).
with

{params}

select
    gap.symbol,
    gap.gap_start,
    gap.gap_end,
    gap.reason,
    gap.detected_by
from {{batch}} as gap
cross join params
where
    gap.healed_at is null
    and gap.gap_start < params.window_end
    and gap.gap_end > params.window_start
order by gap.symbol, gap.gap_start
