-- A per-transaction staging table that COPY fills before the upsert.
create temporary table if not exists stage_klines (
    open_time_ms bigint not null,
    open numeric not null,
    high numeric not null,
    low numeric not null,
    close numeric not null,
    volume numeric not null,
    quote_volume numeric not null,
    trade_count bigint not null,
    taker_buy_volume numeric not null,
    taker_buy_quote_volume numeric not null
) on commit delete rows
