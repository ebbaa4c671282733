-- The runs of minutes a dbt build of a futures market rebuilt after an official kline corrected
-- them (market.rebuilt_runs' role, 0019, per market): its read API pushes them again on /fws
-- and /dws as spot's are on /ws. Written by market.notify_market_rebuilt_corrections
-- (functions/notify.sql), only by dbt_builder (grants.sql); kept a day.
do $$
declare
    raw text;
begin
    foreach raw in array array['market_usdm', 'market_coinm'] loop
        execute format(
            'create table if not exists %I.rebuilt_runs (like market.rebuilt_runs including all)',
            raw
        );
    end loop;
end;
$$;
