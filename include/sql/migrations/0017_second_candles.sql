-- 1s candles (SECOND_CANDLE_SYMBOLS): built by the streamer from the same trades as the
-- minutes, for the symbols a user names, and kept SECOND_CANDLE_RETENTION (the streamer
-- deletes older rows). Binance's 1s klines: a second with no trade while the market is open
-- repeats the previous close with zero volume, as an idle minute does.
create table market.candles_1s_live (
    symbol text not null,
    open_time timestamptz not null,
    open numeric not null,
    high numeric not null,
    low numeric not null,
    close numeric not null,
    volume numeric not null,
    quote_volume numeric not null,
    trade_count bigint not null,
    taker_buy_volume numeric not null,
    taker_buy_quote_volume numeric not null,
    is_closed boolean not null default false,
    updated_at timestamptz not null default now(),
    primary key (symbol, open_time),
    constraint candles_1s_live_second check (date_trunc('second', open_time) = open_time)
);
comment on table market.candles_1s_live is
    'One row per symbol and second for SECOND_CANDLE_SYMBOLS, written by the streamer; is_closed is false while the second is open.';
-- The retention delete reads by time across symbols.
create index candles_1s_live_open_time on market.candles_1s_live (open_time);
