-- Rows: recorded trading halts that overlap the window (reported, not a failure).
with

{params}

select
    gap.symbol,
    gap.gap_start,
    gap.gap_end,
    gap.detail
from {{batch}} as gap
cross join params
where
    gap.reason = 'halt'
    and gap.gap_start < params.window_end
    and gap.gap_end > params.window_start
order by gap.symbol, gap.gap_start
