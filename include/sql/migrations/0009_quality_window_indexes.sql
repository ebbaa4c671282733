-- The data-quality run reads a window (the last 24 hours by default), so what it looks up must
-- be found by time, not by scanning every symbol's history: recorded gaps and halts, and the
-- reconciled windows, that overlap the checked window are found from where they end.
create index ingest_gaps_gap_end on market.ingest_gaps (gap_end);
create index reconciliations_window_end on market.reconciliations (window_end);
