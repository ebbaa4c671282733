-- Live push of 1s candles: applied by every `migrate` after the migrations (create or replace),
-- apart from notify.sql because its table (market.candles_1s_live, 0017) comes later than the
-- step that takes notify.sql (0006).
--
-- 1s candles (SECOND_CANDLE_SYMBOLS, market.candles_1s_live): every streamer write names its
-- seconds on the same channel, as {"at", "seconds": [[symbol, open_ms], ...]}.
create or replace function market.notify_second_candles() returns trigger
language plpgsql as $$
begin
    perform market.notify_candles('seconds', array(
        select market.candle_key_json(c.symbol, c.open_time)
        from new_candles as c
        order by c.symbol, c.open_time
    ));
    return null;
end;
$$;

create or replace trigger candles_1s_live_notify_insert
after insert on market.candles_1s_live
referencing new table as new_candles
for each statement execute function market.notify_second_candles();

create or replace trigger candles_1s_live_notify_update
after update on market.candles_1s_live
referencing new table as new_candles
for each statement execute function market.notify_second_candles();
