-- Live push of repairs, second half. The klines_1m triggers (0006) announce a corrected minute
-- when the official kline is written, but a longer candle (5m .. 1w) over minutes dbt had
-- already built is still read from the analytics marts, which hold the live value until the
-- next build. So the build announces, when it ends, the minutes it rebuilt from an official
-- kline that differs from the live candle pushed for that minute (or that never closed):
-- {"at": ms, "rebuilt": [[symbol, first_open_ms, end_ms], ...]} on channel candles_1m, runs
-- of consecutive minutes, end exclusive, in notifications under 8000 bytes. Every API process
-- reads those candles back, for every interval someone listens to, and pushes them again.
--
-- PL/pgSQL, so creating it does not need the marts, which dbt creates later.
create function market.notify_rebuilt_corrections(built_since timestamptz) returns bigint
language plpgsql as $$
declare
    items text[];
    minutes bigint;
    chunk text;
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
                || ',"rebuilt":[' || chunk || ']}'
        );
    end loop;
    return minutes;
end;
$$;
