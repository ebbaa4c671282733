-- Each symbol's first day of trading at Binance (the open time of its first 1d kline): its 3d
-- klines open every three days from it, each symbol on its own grid (docs/timeframes.md). Read
-- once per symbol by the REST backfill (one klines request, weight 2); null until then.
alter table market.symbols add column first_day date;
comment on column market.symbols.first_day is
    'The day of the symbol''s first 1d kline at Binance, where its 3d grid starts (null until read).';
