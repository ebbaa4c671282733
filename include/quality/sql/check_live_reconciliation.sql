-- Rows: closed live candles that differ from the official kline of the same minute, with the
-- share of compared candles that differ for their symbol.
with

{params},

compared as (

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
        ) as kline_ohlcv
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

),

scored as (

    select
        *,
        count(*) over (partition by symbol) as symbol_compared,
        count(*) filter (where differing_fields <> '') over (
            partition by symbol
        ) as symbol_differing
    from compared

)

select
    symbol,
    open_time,
    differing_fields,
    live_ohlcv,
    kline_ohlcv,
    symbol_differing,
    symbol_compared,
    round(100.0 * symbol_differing / symbol_compared, 4) as symbol_differing_pct
from scored
where differing_fields <> ''
order by symbol, open_time
