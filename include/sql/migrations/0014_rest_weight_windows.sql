-- One Binance REST request-weight budget for every process (issue 12): the streamer's repairs
-- and the batch jobs (backfill, heal-gaps, import's exchangeInfo, reconcile, planning) each
-- reserve a request's weight here before sending it, per fixed window of the server's clock,
-- so together they stay under the IP's REQUEST_WEIGHT limit (include/binance_rest.py
-- SharedWeightBudget). A row per budget and window; rows of past windows are purged after an
-- hour by the clients themselves.
create table market.rest_weight_windows (
    budget text not null,
    -- The window's length (exchangeInfo's REQUEST_WEIGHT interval) and its index since the
    -- epoch: processes that agree on both share the row.
    window_ms integer not null check (window_ms > 0),
    window_index bigint not null,
    -- Weight the processes reserved in the window (sent or in flight).
    reserved integer not null default 0 check (reserved >= 0),
    -- The highest X-MBX-USED-WEIGHT-1M any of them was told in it (what others spent too).
    seen integer not null default 0 check (seen >= 0),
    updated_at timestamptz not null default now(),
    primary key (budget, window_ms, window_index)
);
comment on table market.rest_weight_windows is
    'Binance REST request weight reserved per fixed window by every process sharing the IP.';

-- market.reserve_rest_weight, the one function that reserves here, lives in
-- functions/rest_weight.sql (re-applied by every migrate).
