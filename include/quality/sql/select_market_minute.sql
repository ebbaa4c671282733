-- The market's current minute as the data knows it: the newest minute the streamer is writing
-- (its open candle), read from the rows it wrote lately (the updated_at index); null when no
-- streamer wrote that recently.
select max(open_time)
from market.candles_1m_live
where updated_at >= now() - %(recent)s
