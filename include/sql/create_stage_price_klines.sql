-- A per-transaction staging table that COPY fills before a price-kline upsert.
create temporary table if not exists stage_price_klines (
    open_time_ms bigint not null,
    open numeric not null,
    high numeric not null,
    low numeric not null,
    close numeric not null,
    sample_count bigint not null
) on commit delete rows
