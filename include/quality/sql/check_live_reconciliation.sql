-- Rows: closed live candles that differ from the official kline of the same minute, with the
-- share of compared candles that differ for their symbol.
-- One pass compares every closed live candle in the window with its kline and counts, per
-- symbol, the compared and the differing ones; only the few that differ are read again for the
-- report's fields and values. Turning every compared candle's nine fields into text, and
-- sorting those wide rows for a per-symbol window count, took 8 s a run at 2,000 symbols.
with

{params},

per_symbol as (

    select
        compared.symbol,
        count(*) as symbol_compared,
        count(*) filter (where compared.differs) as symbol_differing,
        array_agg(compared.open_time) filter (where compared.differs) as differing_times
    from (
        select
            live.symbol,
            live.open_time,
            (
                live.open, live.high, live.low, live.close, live.volume, live.quote_volume,
                live.trade_count, live.taker_buy_volume, live.taker_buy_quote_volume
            ) is distinct from (
                kline.open, kline.high, kline.low, kline.close, kline.volume,
                kline.quote_volume, kline.trade_count, kline.taker_buy_volume,
                kline.taker_buy_quote_volume
            ) as differs
        from {{batch}} as live
        cross join params
        inner join market.klines_1m as kline
            on kline.symbol = live.symbol
            and kline.open_time = live.open_time
            -- Implied by the join, stated so the klines are read from the window's range only.
            and kline.open_time >= params.window_start
            and kline.open_time < params.window_end
        where
            live.is_closed
            and live.open_time >= params.window_start
            and live.open_time < params.window_end
        -- Kept a subquery, so the comparison is made as the rows are joined and only the key
        -- and its outcome go on to be grouped, not the nine fields of both sides.
        offset 0
    ) as compared
    group by compared.symbol

)

select
    live.symbol,
    live.open_time,
    concat_ws(
        ', ',
        case when live.open is distinct from kline.open then 'open' end,
        case when live.high is distinct from kline.high then 'high' end,
        case when live.low is distinct from kline.low then 'low' end,
        case when live.close is distinct from kline.close then 'close' end,
        case when live.volume is distinct from kline.volume then 'volume' end,
        case when live.quote_volume is distinct from kline.quote_volume then 'quote_volume' end,
        case when live.trade_count is distinct from kline.trade_count then 'trade_count' end,
        case
            when live.taker_buy_volume is distinct from kline.taker_buy_volume
                then 'taker_buy_volume'
        end,
        case
            when live.taker_buy_quote_volume is distinct from kline.taker_buy_quote_volume
                then 'taker_buy_quote_volume'
        end
    ) as differing_fields,
    concat_ws(
        ' ',
        live.open, live.high, live.low, live.close, live.volume, live.quote_volume,
        live.trade_count, live.taker_buy_volume, live.taker_buy_quote_volume
    ) as live_ohlcv,
    concat_ws(
        ' ',
        kline.open, kline.high, kline.low, kline.close, kline.volume, kline.quote_volume,
        kline.trade_count, kline.taker_buy_volume, kline.taker_buy_quote_volume
    ) as kline_ohlcv,
    per_symbol.symbol_differing,
    per_symbol.symbol_compared,
    round(100.0 * per_symbol.symbol_differing / per_symbol.symbol_compared, 4)
    as symbol_differing_pct
from per_symbol
cross join params
cross join lateral unnest(per_symbol.differing_times) as differing (open_time)
inner join {{batch}} as live
    on live.symbol = per_symbol.symbol
    and live.open_time = differing.open_time
    and live.open_time >= params.window_start
    and live.open_time < params.window_end
inner join market.klines_1m as kline
    on kline.symbol = live.symbol
    and kline.open_time = live.open_time
    and kline.open_time >= params.window_start
    and kline.open_time < params.window_end
order by live.symbol, live.open_time
