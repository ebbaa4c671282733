-- The runs of minutes a dbt build rebuilt after an official kline corrected them, which the
-- read API pushes again (0012). They used to travel in the notification's payload, but NOTIFY
-- needs no privilege: any login could announce a "rebuilt" run and have every API process
-- replay a symbol's whole history to its subscribers. Now the build writes its runs here
-- (only dbt_builder may: include/sql/grants.sql), the notification only says that there are
-- new ones, and the API reads them from this table (functions/notify.sql
-- market.notify_rebuilt_corrections, api/push.py). Kept a day: every API process listening
-- has read a run by then.
create table if not exists market.rebuilt_runs (
    id bigint generated always as identity primary key,
    symbol text not null,
    first_open timestamptz not null,
    end_open timestamptz not null,
    announced_at timestamptz not null default now(),
    check (first_open < end_open)
);
