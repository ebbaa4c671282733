-- upsert_ingest_gap.sql for a futures market: the same rule (market.record_gap_in, which spot's
-- market.record_gap applies) on the market's own ingest_gaps, whose name Market.sql writes in.
select market.record_gap_in(
    gaps => 'market.ingest_gaps'::regclass,
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
