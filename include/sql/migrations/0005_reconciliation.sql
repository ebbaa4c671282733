-- Reconciliation: analytics.candles_1m compared with Binance's official klines, minute by
-- minute and field by field; what differed, what was repaired, and each symbol's window.
create table market.reconciliations (
    symbol text not null,
    window_start timestamptz not null,
    -- Exclusive end of the window compared.
    window_end timestamptz not null,
    minutes_official integer not null,
    minutes_mismatched integer not null,
    minutes_repaired integer not null,
    minutes_unrepaired integer not null,
    reconciled_at timestamptz not null default now(),
    primary key (symbol, window_start, window_end),
    constraint reconciliations_window check (window_end > window_start)
);
comment on table market.reconciliations is
    'One row per symbol and reconciled window: official minutes compared, mismatched, repaired.';

create table market.reconcile_mismatches (
    symbol text not null,
    open_time timestamptz not null,
    -- A candle column, or missing (official only) or extra (ours only).
    field text not null,
    ours text,
    official text,
    found_at timestamptz not null default now(),
    repaired_at timestamptz,
    primary key (symbol, open_time, field)
);
comment on table market.reconcile_mismatches is
    'Minutes of analytics.candles_1m that differed from the official kline, field by field.';
