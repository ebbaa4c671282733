-- Rows: DESIGN.md candle columns the table lacks or holds with another type.
with

expected (column_name, expected_type) as (

    values
        ('symbol', 'text'),
        ('open_time', 'timestamp with time zone'),
        ('open', 'numeric'),
        ('high', 'numeric'),
        ('low', 'numeric'),
        ('close', 'numeric'),
        ('volume', 'numeric'),
        ('quote_volume', 'numeric'),
        ('trade_count', 'bigint'),
        ('taker_buy_volume', 'numeric'),
        ('taker_buy_quote_volume', 'numeric')

),

actual as (

    select
        attname::text as column_name,
        atttypid::regtype::text as actual_type
    from pg_catalog.pg_attribute
    where
        attrelid = {table_name}::regclass
        and attnum > 0
        and not attisdropped

),

-- GX validates a batch; naming it keeps the expectation bound to the table it describes.
batch_probe as (

    select 1 from {{batch}} as probe limit 0

)

select
    expected.column_name,
    expected.expected_type,
    coalesce(actual.actual_type, 'missing') as actual_type
from expected
left join actual on actual.column_name = expected.column_name
where actual.actual_type is distinct from expected.expected_type
order by expected.column_name
