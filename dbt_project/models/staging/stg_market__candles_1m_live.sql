with

source as (

    select * from {{ source('market', 'candles_1m_live') }}

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
        is_closed,
        updated_at
    from source

)

select * from renamed
