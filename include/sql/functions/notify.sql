-- Live push (api/README.md "Live push"): every committed change to a 1m candle is announced on
-- channel candles_1m, so any number of API processes LISTEN and fan out without a side channel
-- to the streamer. Applied by every `migrate` after the migrations (create or replace), and
-- taken as it is by migration 0006, whose step needs it: these bodies live here only.
--
-- A notification only names the minutes that changed: {"at": ms when the statement ran,
-- "rows": [[symbol, open_ms], ...]}, or {"at", "rebuilt": newest id} (the runs are in
-- market.rebuilt_runs, see notify_rebuilt_corrections below).
-- NOTIFY needs no privilege, so any login could send one: the API reads the values back from
-- the tables, never from a payload. Items go out in their order, as many notifications as it
-- takes to keep each one under 8000 bytes (~7 kB of items each); no items, no notification.
-- On any channel: a futures market's announces on its own (functions/notify_markets.sql).
create or replace function market.notify_candles_on(channel text, kind text, items text[])
returns void
language plpgsql as $$
declare
    chunk text;
begin
    for chunk in
        select string_agg(item, ',' order by n)
        from (
            select item, n, sum(length(item) + 1) over (order by n) / 7000 as part
            from unnest(coalesce(items, '{}')) with ordinality as r (item, n)
        ) as parted
        group by part
        order by part
    loop
        perform pg_notify(
            channel,
            '{"at":' || (extract(epoch from clock_timestamp()) * 1000)::bigint
                || ',"' || kind || '":[' || chunk || ']}'
        );
    end loop;
end;
$$;

-- Spot's, on candles_1m.
create or replace function market.notify_candles(kind text, items text[]) returns void
language sql as $$
    select market.notify_candles_on('candles_1m', kind, items)
$$;

create or replace function market.notify_candle_rows(row_json text[]) returns void
language sql as $$
    select market.notify_candles('rows', row_json)
$$;

-- A minute's key as a notification item: [symbol, open_ms].
create or replace function market.candle_key_json(symbol text, open_time timestamptz)
returns text
language sql immutable as $$
    select json_build_array(symbol, (extract(epoch from open_time) * 1000)::bigint)::text
$$;

-- Every streamer write: forming, closed and repaired minutes. A minute that already has an
-- official kline is served from the kline, so its live rewrites are not announced.
create or replace function market.notify_live_candles() returns trigger
language plpgsql as $$
begin
    perform market.notify_candle_rows(array(
        select market.candle_key_json(c.symbol, c.open_time)
        from new_candles as c
        where not exists (
            select from market.klines_1m as k
            where k.symbol = c.symbol and k.open_time = c.open_time
        )
        order by c.symbol, c.open_time
    ));
    return null;
end;
$$;

create or replace trigger candles_1m_live_notify_insert
after insert on market.candles_1m_live
referencing new table as new_candles
for each statement execute function market.notify_live_candles();

create or replace trigger candles_1m_live_notify_update
after update on market.candles_1m_live
referencing new table as new_candles
for each statement execute function market.notify_live_candles();

-- A repair: an official kline that differs from the live candle already pushed for its minute
-- (or whose live candle is not closed) is announced again. History loads touch no live minute
-- and announce nothing.
create or replace function market.notify_kline_corrections() returns trigger
language plpgsql as $$
begin
    perform market.notify_candle_rows(array(
        select market.candle_key_json(k.symbol, k.open_time)
        from new_klines as k
        join market.candles_1m_live as l on l.symbol = k.symbol and l.open_time = k.open_time
        where (k.open, k.high, k.low, k.close, k.volume, k.quote_volume, k.trade_count,
                k.taker_buy_volume, k.taker_buy_quote_volume)
            is distinct from (l.open, l.high, l.low, l.close, l.volume, l.quote_volume,
                l.trade_count, l.taker_buy_volume, l.taker_buy_quote_volume)
            or not l.is_closed
        order by k.symbol, k.open_time
    ));
    return null;
end;
$$;

create or replace trigger klines_1m_notify_insert
after insert on market.klines_1m
referencing new table as new_klines
for each statement execute function market.notify_kline_corrections();

create or replace trigger klines_1m_notify_update
after update on market.klines_1m
referencing new table as new_klines
for each statement execute function market.notify_kline_corrections();

-- The full rows 0006 sent, no longer used by anything.
drop function if exists market.candle_row_json(
    text, timestamptz, numeric, numeric, numeric, numeric, numeric, numeric, bigint, numeric,
    numeric, boolean, bigint, bigint
);

-- A market's minutes whose official kline, loaded since `built_since`, differs from the live
-- candle already pushed for them (or whose live candle was not closed), as runs of consecutive
-- minutes (end exclusive) written to <raw_schema>.rebuilt_runs, then one notification
-- {"at": ms, "rebuilt": newest run id} on the market's channel (spot's candles_1m). The
-- timeframes build calls it at its end with the loads its build read: the 1m view served the
-- kline at once, but the longer candles over those minutes held the live values until this
-- build rolled them up again. The runs are in a table only dbt_builder writes, not in the
-- payload: a forged notification names no run. Returns how many minutes were announced.
-- (A futures market's channel: functions/notify_markets.sql, market.candles_channel.)
create or replace function market.notify_market_rebuilt_corrections(
    raw_schema text, built_since timestamptz
)
returns bigint
language plpgsql as $$
declare
    minutes bigint;
    newest bigint;
begin
    -- A day on, every API process that was listening has read a run.
    execute format(
        'delete from %I.rebuilt_runs where announced_at < now() - interval ''1 day''', raw_schema
    );

    execute format(
        $q$
        with corrected as (
            select k.symbol, k.open_time
            from %1$I.klines_1m as k
            join %1$I.candles_1m_live as l using (symbol, open_time)
            where k.loaded_at >= $1
                and ((k.open, k.high, k.low, k.close, k.volume, k.quote_volume, k.trade_count,
                        k.taker_buy_volume, k.taker_buy_quote_volume)
                    is distinct from (l.open, l.high, l.low, l.close, l.volume, l.quote_volume,
                        l.trade_count, l.taker_buy_volume, l.taker_buy_quote_volume)
                    or not l.is_closed)
        ),

        runs as (
            select
                symbol,
                open_time,
                open_time - row_number() over (partition by symbol order by open_time)
                    * interval '1 minute' as run
            from corrected
        ),

        grouped as (
            select
                symbol,
                min(open_time) as first_open,
                max(open_time) + interval '1 minute' as end_open,
                count(*) as n
            from runs
            group by symbol, run
        ),

        inserted as (
            insert into %1$I.rebuilt_runs (symbol, first_open, end_open)
            select symbol, first_open, end_open from grouped
            order by symbol, first_open
            returning id
        )

        select (select coalesce(sum(n), 0) from grouped), (select max(id) from inserted)
        $q$,
        raw_schema
    )
    into minutes, newest
    using built_since;

    if newest is not null then
        perform pg_notify(
            case raw_schema when 'market' then 'candles_1m'
                else market.candles_channel(raw_schema) end,
            json_build_object(
                'at', (extract(epoch from clock_timestamp()) * 1000)::bigint, 'rebuilt', newest
            )::text
        );
    end if;
    return minutes;
end;
$$;

-- Spot's, as the timeframes build has always called it.
create or replace function market.notify_rebuilt_corrections(built_since timestamptz)
returns bigint
language plpgsql as $$
begin
    return market.notify_market_rebuilt_corrections('market', built_since);
end;
$$;
