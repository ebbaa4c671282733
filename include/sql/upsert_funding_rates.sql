-- Funding rates into a futures market's funding_rates ({table}); an unchanged row is not
-- touched. A column the source does not carry (REST: the interval; the dumps: the mark price)
-- keeps what another source wrote.
insert into {table} as f (
    symbol, funding_time, funding_rate, mark_price, funding_interval_hours, source
)
values (%s, %s, %s, %s, %s, %s)
on conflict (symbol, funding_time) do update set
    funding_rate = excluded.funding_rate,
    mark_price = coalesce(excluded.mark_price, f.mark_price),
    funding_interval_hours = coalesce(excluded.funding_interval_hours, f.funding_interval_hours),
    source = excluded.source,
    loaded_at = now()
where (f.funding_rate, f.mark_price, f.funding_interval_hours) is distinct from (
    excluded.funding_rate,
    coalesce(excluded.mark_price, f.mark_price),
    coalesce(excluded.funding_interval_hours, f.funding_interval_hours)
)
