-- The tables of DESIGN.md: the live candle table, official history, gaps, and bookkeeping.
create schema if not exists market;
create schema if not exists analytics;

create table market.candles_1m_live (
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
    -- The trade-id range the candle was built from: how the streamer proves a minute complete.
    first_trade_id bigint,
    last_trade_id bigint,
    updated_at timestamptz not null default now(),
    primary key (symbol, open_time),
    constraint candles_1m_live_minute check (date_trunc('minute', open_time) = open_time)
);
comment on table market.candles_1m_live is
    'One row per symbol and minute, written by the streamer; is_closed is false while the minute is open.';
create index candles_1m_live_updated_at on market.candles_1m_live (updated_at);

create table market.klines_1m (
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
    -- Where the row came from: rest, dump_klines, dump_trades or dump_aggtrades.
    source text not null,
    loaded_at timestamptz not null default now(),
    primary key (symbol, open_time),
    constraint klines_1m_minute check (date_trunc('minute', open_time) = open_time),
    constraint klines_1m_source check (
        source in ('rest', 'dump_klines', 'dump_trades', 'dump_aggtrades')
    )
);
comment on table market.klines_1m is
    'Official Binance 1-minute klines, one row per symbol and minute, from REST or the CSV dumps.';
create index klines_1m_loaded_at on market.klines_1m (loaded_at);

create table market.ingest_gaps (
    symbol text not null,
    gap_start timestamptz not null,
    -- Exclusive end of the missing span.
    gap_end timestamptz not null,
    first_missing_trade_id bigint,
    last_missing_trade_id bigint,
    reason text not null,
    detected_by text not null,
    detected_at timestamptz not null default now(),
    healed_at timestamptz,
    healed_by text,
    detail text,
    primary key (symbol, gap_start),
    constraint ingest_gaps_span check (gap_end > gap_start)
);
comment on table market.ingest_gaps is
    'Spans known to be missing, one row per symbol and gap start; healed_at is set once repaired.';
create index ingest_gaps_unhealed on market.ingest_gaps (symbol, gap_start) where healed_at is null;

create table market.symbols (
    symbol text primary key,
    status text not null,
    base_asset text,
    quote_asset text,
    updated_at timestamptz not null default now()
);
comment on table market.symbols is 'Symbols as exchangeInfo last described them.';

create table market.imported_files (
    file_name text primary key,
    kind text not null,
    symbol text not null,
    checksum text not null,
    row_count bigint not null,
    candle_count bigint not null,
    source text not null,
    imported_at timestamptz not null default now()
);
comment on table market.imported_files is
    'Dump files already loaded, with the checksum they had: a changed checksum means reload.';
