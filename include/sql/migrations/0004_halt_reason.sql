-- Halts get their own reason in market.ingest_gaps (heal-gaps wrote 'binance_has_no_klines'),
-- so quality exempts them from continuity and keeps reporting them.
update market.ingest_gaps set reason = 'halt' where reason = 'binance_has_no_klines';
