-- Price change statistics of each asked symbol over the minutes opening at or after %(start)s
-- (/api/v3/ticker/24hr, /api/v3/ticker, /api/v3/avgPrice): Binance's kline where it has one,
-- else the live candle; only minutes with trades count, as only trades count at Binance.
-- Symbols with no candle at all are left out; one with no trade in the window keeps its last
-- price from the newest minute before it. Exact numeric arithmetic, rounded as Binance prints.
with minutes as (
    select
        k.symbol, k.open_time, k.open, k.high, k.low, k.close, k.volume, k.quote_volume,
        k.trade_count, l.last_trade_id
    from market.klines_1m as k
    -- The live side is bounded by the same symbols and window: the planner does not carry the
    -- klines' bounds across an outer join, and read every symbol's live minutes of the month
    -- to join them (tests/api/test_tickers.py). Above by %(until)s too, a day past now: the
    -- live table's days made ahead (empty) are then left out when the statement is planned,
    -- instead of each being planned and opened.
    left join market.candles_1m_live as l
        on
            k.symbol = l.symbol and k.open_time = l.open_time
            and l.symbol = any(%(symbols)s::text []) and l.open_time >= %(start)s
            and l.open_time < %(until)s
    where k.symbol = any(%(symbols)s::text []) and k.open_time >= %(start)s and k.trade_count > 0
    union all
    select
        l.symbol, l.open_time, l.open, l.high, l.low, l.close, l.volume, l.quote_volume,
        l.trade_count, l.last_trade_id
    from market.candles_1m_live as l
    where
        l.symbol = any(%(symbols)s::text []) and l.open_time >= %(start)s
        and l.open_time < %(until)s and l.trade_count > 0
        and not exists (
            select from market.klines_1m as k
            where
                k.symbol = l.symbol and k.open_time = l.open_time
                and k.symbol = any(%(symbols)s::text []) and k.open_time >= %(start)s
        )
),

stats as (
    select
        symbol,
        (array_agg(open order by open_time))[1] as open,
        max(high) as high,
        min(low) as low,
        (array_agg(close order by open_time desc))[1] as last,
        max(open_time) as last_minute,
        sum(volume) as volume,
        sum(quote_volume) as quote_volume,
        sum(trade_count)::bigint as trade_count,
        (array_agg(last_trade_id order by open_time desc))[1] as last_trade_id
    from minutes
    group by symbol
),

picked as (
    select
        s.symbol,
        st.open,
        st.high,
        st.low,
        st.last,
        st.last_minute,
        st.volume,
        st.quote_volume,
        st.trade_count,
        st.last_trade_id,
        before.close as prev_close
    from unnest(%(symbols)s::text []) as s (symbol)
    left join stats as st on s.symbol = st.symbol
    left join lateral (
        select found.close
        from (
            (
                select k.close, k.open_time from market.klines_1m as k
                where k.symbol = s.symbol and k.open_time < %(start)s
                order by k.open_time desc
                limit 1
            )
            union all
            (
                select l.close, l.open_time from market.candles_1m_live as l
                where l.symbol = s.symbol and l.open_time < %(start)s
                order by l.open_time desc
                limit 1
            )
        ) as found
        order by found.open_time desc
        limit 1
    ) as before on true
    where st.symbol is not null or before.close is not null
)

select
    symbol,
    round(coalesce(open, prev_close), 8)::text as open_price,
    round(coalesce(high, prev_close), 8)::text as high_price,
    round(coalesce(low, prev_close), 8)::text as low_price,
    round(coalesce(last, prev_close), 8)::text as last_price,
    round(coalesce(prev_close, open), 8)::text as prev_close_price,
    round(coalesce(last - open, 0), 8)::text as price_change,
    round(coalesce((last - open) * 100 / nullif(open, 0), 0), 3)::text as price_change_percent,
    round(coalesce(quote_volume / nullif(volume, 0), 0), 8)::text as weighted_avg_price,
    round(coalesce(volume, 0), 8)::text as volume,
    round(coalesce(quote_volume, 0), 8)::text as quote_volume,
    coalesce(trade_count, 0) as trade_count,
    last_trade_id,
    (extract(epoch from last_minute) * 1000)::bigint as last_minute_ms
from picked
order by symbol
