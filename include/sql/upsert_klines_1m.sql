-- Staged candles into market.klines_1m; rows whose values are unchanged keep their loaded_at,
-- so dbt's incremental build (which follows loaded_at) sees only real changes.
insert into market.klines_1m as k (
    symbol,
    open_time,
    open,
    high,
    low,
    close,
    volume,
    quote_volume,
    trade_count,
    taker_buy_volume,
    taker_buy_quote_volume,
    source
)
select
    %(symbol)s as symbol,
    timestamptz 'epoch' + s.open_time_ms * interval '1 millisecond' as open_time,
    s.open,
    s.high,
    s.low,
    s.close,
    s.volume,
    s.quote_volume,
    s.trade_count,
    s.taker_buy_volume,
    s.taker_buy_quote_volume,
    %(source)s as source
from pg_temp.stage_klines as s
on conflict (symbol, open_time) do update set
    open = excluded.open,
    high = excluded.high,
    low = excluded.low,
    close = excluded.close,
    volume = excluded.volume,
    quote_volume = excluded.quote_volume,
    trade_count = excluded.trade_count,
    taker_buy_volume = excluded.taker_buy_volume,
    taker_buy_quote_volume = excluded.taker_buy_quote_volume,
    source = excluded.source,
    loaded_at = now()
where (
    k.open,
    k.high,
    k.low,
    k.close,
    k.volume,
    k.quote_volume,
    k.trade_count,
    k.taker_buy_volume,
    k.taker_buy_quote_volume
) is distinct from (
    excluded.open,
    excluded.high,
    excluded.low,
    excluded.close,
    excluded.volume,
    excluded.quote_volume,
    excluded.trade_count,
    excluded.taker_buy_volume,
    excluded.taker_buy_quote_volume
)
