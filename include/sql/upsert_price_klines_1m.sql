-- Staged mark-, index- or premium-index-price klines into a futures market's table of that kind
-- ({table}); rows whose values are unchanged keep their loaded_at.
insert into {table} as k (symbol, open_time, open, high, low, close, sample_count, source)
select
    %(symbol)s as symbol,
    timestamptz 'epoch' + s.open_time_ms * interval '1 millisecond' as open_time,
    s.open,
    s.high,
    s.low,
    s.close,
    s.sample_count,
    %(source)s as source
from pg_temp.stage_price_klines as s
on conflict (symbol, open_time) do update set
    open = excluded.open,
    high = excluded.high,
    low = excluded.low,
    close = excluded.close,
    sample_count = excluded.sample_count,
    source = excluded.source,
    loaded_at = now()
where (k.open, k.high, k.low, k.close, k.sample_count)
    is distinct from (excluded.open, excluded.high, excluded.low, excluded.close, excluded.sample_count)
