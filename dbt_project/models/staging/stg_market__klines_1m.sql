with

source as (

    select * from {{ source('market', 'klines_1m') }}

),

renamed as (

    select
        {{ candle_columns() }},
        source as kline_source,
        loaded_at
    from source

)

select * from renamed
