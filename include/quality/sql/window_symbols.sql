-- The distinct symbols of {table} in the window, one probe of its key index per symbol (a
-- loose index scan: the first symbol, then the first one after it, until there is none).
select found.symbol
from (
    with recursive walk as (

        (
            select candle.symbol
            from {table} as candle
            cross join params
            where
                candle.open_time >= params.window_start
                and candle.open_time < params.window_end
            order by candle.symbol
            limit 1
        )

        union all

        select (
            select candle.symbol
            from {table} as candle
            cross join params
            where
                candle.symbol > walk.symbol
                and candle.open_time >= params.window_start
                and candle.open_time < params.window_end
            order by candle.symbol
            limit 1
        )
        from walk
        where walk.symbol is not null

    )

    select walk.symbol from walk
) as found
where found.symbol is not null
