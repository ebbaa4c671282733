-- As record_gap.sql, in a futures market's gaps table (market_usdm.ingest_gaps, ...): the same
-- rule, market.record_gap_in's (include/sql/functions/gaps.sql), which market.record_gap applies
-- to spot's.
select market.record_gap_in(
    gaps => %(gaps)s::regclass,
    symbol => %(symbol)s,
    gap_start => %(gap_start)s,
    gap_end => %(gap_end)s,
    reason => %(reason)s,
    detected_by => %(detected_by)s,
    healed => %(healed)s,
    detail => %(detail)s
)
