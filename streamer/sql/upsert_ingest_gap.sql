-- One gap the streamer found: the minutes are missing now, so the row is open again and the
-- streamer's, widened to cover an earlier gap of the same start (market.record_gap's one rule,
-- include/sql/functions/gaps.sql).
select market.record_gap(
    symbol => %s,
    gap_start => %s,
    gap_end => %s,
    first_missing_trade_id => %s,
    last_missing_trade_id => %s,
    reason => %s,
    detected_by => 'streamer',
    healed => false,
    detail => %s
)
