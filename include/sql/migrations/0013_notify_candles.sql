-- One sender for channel candles_1m. 0006 (live rows, corrected klines) and 0012 (minutes a
-- build rebuilt) each carried the same chunked pg_notify loop; both now call this one, so the
-- payload envelope and the size limit live in one place. Payloads, channel and behaviour are
-- unchanged: {"at": ms when the statement ran, "<kind>": [item, ...]}, items (JSON texts) in
-- their given order, as many notifications as it takes to keep each one under 8000 bytes
-- (~7 kB of items each). No items, no notification.
create function market.notify_candles(kind text, items text[]) returns void
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
            'candles_1m',
            '{"at":' || (extract(epoch from clock_timestamp()) * 1000)::bigint
                || ',"' || kind || '":[' || chunk || ']}'
        );
    end loop;
end;
$$;

-- The live rows' sender (called by the triggers of 0006) keeps its name and signature.
create or replace function market.notify_candle_rows(row_json text[]) returns void
language sql as $$
    select market.notify_candles('rows', row_json)
$$;

-- As in 0012, but sending through market.notify_candles.
create or replace function market.notify_rebuilt_corrections(built_since timestamptz)
returns bigint
language plpgsql as $$
declare
    items text[];
    minutes bigint;
begin
    with corrected as (
        select m.symbol, m.open_time
        from analytics.candles_1m as m
        join market.candles_1m_live as l using (symbol, open_time)
        where m.built_at >= built_since
            and m.origin = 'kline'
            and ((m.open, m.high, m.low, m.close, m.volume, m.quote_volume, m.trade_count,
                    m.taker_buy_volume, m.taker_buy_quote_volume)
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
    )

    select
        array_agg(
            json_build_array(
                symbol,
                (extract(epoch from first_open) * 1000)::bigint,
                (extract(epoch from last_open + interval '1 minute') * 1000)::bigint
            )::text
            order by symbol, first_open
        ),
        coalesce(sum(n), 0)
    into items, minutes
    from (
        select symbol, min(open_time) as first_open, max(open_time) as last_open, count(*) as n
        from runs
        group by symbol, run
    ) as grouped;

    perform market.notify_candles('rebuilt', items);
    return minutes;
end;
$$;
