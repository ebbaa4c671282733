-- Live push of the futures markets (DESIGN.md "Futures markets"): each market's live table and
-- klines announce their changed minutes as spot's do (functions/notify.sql), on the market's own
-- channel, candles_1m_usdm or candles_1m_coinm, so the API's /fws and /dws streams LISTEN to their
-- market only. Same payload, same 7 kB chunks, same rule for what is announced; one trigger
-- function per kind serves every futures schema (the table's schema names the market). Spot's
-- functions and triggers are notify.sql's (migration 0006 takes that file as it is), which also
-- holds the chunked sender both use, market.notify_candles_on.

-- market_usdm -> candles_1m_usdm.
create or replace function market.candles_channel(raw_schema text) returns text
language sql immutable as $$
    select 'candles_1m_' || substr(raw_schema, length('market_') + 1)
$$;

-- The streamer's writes to a futures market's live table (notify_live_candles' rule).
create or replace function market.notify_market_live_candles() returns trigger
language plpgsql as $$
declare
    items text[];
begin
    execute format(
        'select array(
            select market.candle_key_json(c.symbol, c.open_time)
            from new_candles as c
            where not exists (
                select from %I.klines_1m as k
                where k.symbol = c.symbol and k.open_time = c.open_time
            )
            order by c.symbol, c.open_time
        )',
        tg_table_schema
    ) into items;
    perform market.notify_candles_on(market.candles_channel(tg_table_schema), 'rows', items);
    return null;
end;
$$;

-- A repair of a futures market's minute already pushed (notify_kline_corrections' rule).
create or replace function market.notify_market_kline_corrections() returns trigger
language plpgsql as $$
declare
    items text[];
begin
    execute format(
        'select array(
            select market.candle_key_json(k.symbol, k.open_time)
            from new_klines as k
            join %I.candles_1m_live as l on l.symbol = k.symbol and l.open_time = k.open_time
            where (k.open, k.high, k.low, k.close, k.volume, k.quote_volume, k.trade_count,
                    k.taker_buy_volume, k.taker_buy_quote_volume)
                is distinct from (l.open, l.high, l.low, l.close, l.volume, l.quote_volume,
                    l.trade_count, l.taker_buy_volume, l.taker_buy_quote_volume)
                or not l.is_closed
            order by k.symbol, k.open_time
        )',
        tg_table_schema
    ) into items;
    perform market.notify_candles_on(market.candles_channel(tg_table_schema), 'rows', items);
    return null;
end;
$$;

-- Each futures market's tables get the triggers spot's have (notify.sql), by the same names.
do $$
declare
    raw_schema text;
begin
    foreach raw_schema in array array['market_usdm', 'market_coinm'] loop
        execute format(
            'create or replace trigger candles_1m_live_notify_insert
            after insert on %1$I.candles_1m_live
            referencing new table as new_candles
            for each statement execute function market.notify_market_live_candles();

            create or replace trigger candles_1m_live_notify_update
            after update on %1$I.candles_1m_live
            referencing new table as new_candles
            for each statement execute function market.notify_market_live_candles();

            create or replace trigger klines_1m_notify_insert
            after insert on %1$I.klines_1m
            referencing new table as new_klines
            for each statement execute function market.notify_market_kline_corrections();

            create or replace trigger klines_1m_notify_update
            after update on %1$I.klines_1m
            referencing new table as new_klines
            for each statement execute function market.notify_market_kline_corrections();',
            raw_schema
        );
    end loop;
end;
$$;
