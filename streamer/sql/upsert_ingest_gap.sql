-- One gap the streamer found. Two gaps can start in the same minute: the row widens to cover
-- both and is unhealed again.
insert into market.ingest_gaps (symbol, gap_start, gap_end, first_missing_trade_id,
    last_missing_trade_id, reason, detected_by, detail)
values (%s, %s, %s, %s, %s, %s, 'streamer', %s)
on conflict (symbol, gap_start) do update set
    gap_end = greatest(market.ingest_gaps.gap_end, excluded.gap_end),
    first_missing_trade_id = least(market.ingest_gaps.first_missing_trade_id,
        excluded.first_missing_trade_id),
    last_missing_trade_id = greatest(market.ingest_gaps.last_missing_trade_id,
        excluded.last_missing_trade_id),
    reason = excluded.reason, detected_by = excluded.detected_by,
    detected_at = now(), healed_at = null, healed_by = null, detail = excluded.detail
