with

source as (

    select * from {{ source('market', 'timeframe_dirty_ranges') }}

),

renamed as (

    select
        symbol,
        range_start,
        range_end,
        marked_at
    from source

)

select * from renamed
