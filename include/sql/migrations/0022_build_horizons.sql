-- Where each incremental dbt model's next build starts reading changed source rows (its
-- horizon): the oldest start of a writer transaction still open when its previous build read,
-- so a row that committed after that read is re-read by the next build, and nothing older is
-- (a blanket 15-minute look-back re-read every write of the quarter hour before, the whole
-- bootstrap's 5.76 M klines at ALL). Written only through functions/build_horizons.sql's
-- functions, as dbt_builder, in the model's own transaction; `pending` is the horizon of the
-- build running, promoted when it succeeds.
create table if not exists market.build_horizons (
    model text primary key,
    horizon timestamptz,
    pending timestamptz,
    updated_at timestamptz not null default now()
);
comment on table market.build_horizons is
    'Per incremental dbt model: change time from which its next build re-reads source rows.';

-- Its functions, as they are now (re-applied by every migrate after the migrations).
\i functions/build_horizons.sql
