-- How the streamer made each live row: true when it copied the minute from Binance's klines
-- (the minutes a restart missed, a start's own minute closed from its kline), false when it
-- built the minute from trades (the stream, or REST trades for a gap). Idle minutes have no
-- trade ids either way and a minute closed from its kline keeps the ids the stream sent, so
-- the trade-id columns could not tell the two apart. Rows written before this read false.
alter table market.candles_1m_live add column if not exists from_klines boolean not null default false;
comment on column market.candles_1m_live.from_klines is
    'true: the streamer copied this minute from Binance''s REST klines; false: built from trades.';
