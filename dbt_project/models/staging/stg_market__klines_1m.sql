with

source as (

    select * from {{ source('market', 'klines_1m') }}

),

renamed as (

    select
        symbol,
        open_time,
        open,
        high,
        low,
        close,
        volume,
        quote_volume,
        trade_count,
        taker_buy_volume,
        taker_buy_quote_volume,
        source as kline_source,
        loaded_at
    from source

)

select * from renamed
