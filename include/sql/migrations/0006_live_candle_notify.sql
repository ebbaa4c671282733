-- Live push: every committed change to a 1m candle is announced on channel candles_1m, so any
-- number of API processes LISTEN and fan out without a side channel to the streamer.
--
-- Payload: {"at": ms when the statement ran, "rows": [[symbol, open_ms, "open", "high", "low",
-- "close", "volume", "quote_volume", trade_count, "taker_buy_volume", "taker_buy_quote_volume",
-- is_closed, first_trade_id, last_trade_id], ...]}, decimals already in Binance's 8-decimal
-- form. Statement-level triggers with transition tables send one notification per ~7 kB of
-- changed rows, not one per row; NOTIFY payloads must stay under 8000 bytes.
create function market.notify_candle_rows(row_json text[]) returns void
language plpgsql as $$
declare
    chunk text;
begin
    for chunk in
        select string_agg(item, ',' order by n)
        from (
            select item, n, sum(length(item) + 1) over (order by n) / 7000 as part
            from unnest(row_json) with ordinality as r (item, n)
        ) as parted
        group by part
        order by part
    loop
        perform pg_notify(
            'candles_1m',
            '{"at":' || (extract(epoch from clock_timestamp()) * 1000)::bigint
                || ',"rows":[' || chunk || ']}'
        );
    end loop;
end;
$$;

create function market.candle_row_json(
    symbol text, open_time timestamptz, open numeric, high numeric, low numeric,
    close numeric, volume numeric, quote_volume numeric, trade_count bigint,
    taker_buy_volume numeric, taker_buy_quote_volume numeric, is_closed boolean,
    first_trade_id bigint, last_trade_id bigint
) returns text
language sql immutable as $$
    select json_build_array(
        symbol, (extract(epoch from open_time) * 1000)::bigint,
        round(open, 8)::text, round(high, 8)::text, round(low, 8)::text, round(close, 8)::text,
        round(volume, 8)::text, round(quote_volume, 8)::text, trade_count,
        round(taker_buy_volume, 8)::text, round(taker_buy_quote_volume, 8)::text, is_closed,
        coalesce(first_trade_id, -1), coalesce(last_trade_id, -1)
    )::text
$$;

-- Every streamer write: forming, closed and repaired minutes. A minute that already has an
-- official kline is served from the kline, so its live rewrites are not announced.
create function market.notify_live_candles() returns trigger
language plpgsql as $$
begin
    perform market.notify_candle_rows(array(
        select market.candle_row_json(
            c.symbol, c.open_time, c.open, c.high, c.low, c.close, c.volume, c.quote_volume,
            c.trade_count, c.taker_buy_volume, c.taker_buy_quote_volume, c.is_closed,
            c.first_trade_id, c.last_trade_id
        )
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

create trigger candles_1m_live_notify_insert
after insert on market.candles_1m_live
referencing new table as new_candles
for each statement execute function market.notify_live_candles();

create trigger candles_1m_live_notify_update
after update on market.candles_1m_live
referencing new table as new_candles
for each statement execute function market.notify_live_candles();

-- A repair: an official kline that differs from the live candle already pushed for its minute
-- is pushed again, closed. History loads touch no live minute and announce nothing.
create function market.notify_kline_corrections() returns trigger
language plpgsql as $$
begin
    perform market.notify_candle_rows(array(
        select market.candle_row_json(
            k.symbol, k.open_time, k.open, k.high, k.low, k.close, k.volume, k.quote_volume,
            k.trade_count, k.taker_buy_volume, k.taker_buy_quote_volume, true,
            l.first_trade_id, l.last_trade_id
        )
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

create trigger klines_1m_notify_insert
after insert on market.klines_1m
referencing new table as new_klines
for each statement execute function market.notify_kline_corrections();

create trigger klines_1m_notify_update
after update on market.klines_1m
referencing new table as new_klines
for each statement execute function market.notify_kline_corrections();
