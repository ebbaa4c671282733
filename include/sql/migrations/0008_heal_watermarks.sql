-- How far heal-gaps has looked at each symbol's 1m series: every minute before checked_until is
-- held, recorded as a halt, or listed as a gap. A run looks for holes only after it, so its cost
-- follows the time since the last run, not the length of the history. A load of older minutes
-- (a backfill before the first candle, a dump of an earlier day) moves it back.
create table market.heal_watermarks (
    symbol text primary key,
    checked_until timestamptz not null,
    updated_at timestamptz not null default now()
);
comment on table market.heal_watermarks is
    'Per symbol, the instant up to which heal-gaps has checked the 1m series for holes.';
