with

source as (

    select * from {{ source('market', 'candles_1m_live') }}

),

renamed as (

    select
        {{ candle_columns() }},
        is_closed,
        updated_at
    from source

)

select * from renamed
