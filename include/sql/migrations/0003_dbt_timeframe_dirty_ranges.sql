-- Ranges of minutes that writers declare changed, so the incremental dbt build recomputes them.
create table market.timeframe_dirty_ranges (
    id bigint generated always as identity primary key,
    symbol text not null,
    range_start timestamptz not null,
    -- Exclusive end of the changed span.
    range_end timestamptz not null,
    reason text,
    marked_at timestamptz not null default now(),
    constraint timeframe_dirty_ranges_span check (range_end > range_start)
);
comment on table market.timeframe_dirty_ranges is
    'One row per declared change: dbt rebuilds every candle overlapping [range_start, range_end).';
create index timeframe_dirty_ranges_marked_at on market.timeframe_dirty_ranges (marked_at);
