-- Rows: keys (symbol, open_time) held by more than one candle inside the window.
-- A valid unique index on exactly (symbol, open_time), not partial (the migrations' primary
-- key), already proves there are none: PostgreSQL then skips the scan (a one-time filter), and
-- the rows are grouped only for a table without one.
with

{params},

enforced as not materialized (

    select exists (
        select 1
        from pg_catalog.pg_index as ix
        where
            ix.indrelid = {table_name}::regclass
            and ix.indisunique
            and ix.indisvalid
            and ix.indpred is null
            and ix.indexprs is null
            and ix.indnkeyatts = 2
            and (
                select array_agg(att.attname::text order by att.attname::text)
                from pg_catalog.pg_attribute as att
                where
                    att.attrelid = ix.indrelid
                    and att.attnum = any((ix.indkey::int2[])[0:1])
            ) = array['open_time', 'symbol']
    ) as proven

)

select
    candle.symbol,
    candle.open_time,
    count(*) as copies
from {{batch}} as candle
cross join params
where
    not (select enforced.proven from enforced)
    and candle.open_time >= params.window_start
    and candle.open_time < params.window_end
group by candle.symbol, candle.open_time
having count(*) > 1
order by candle.symbol, candle.open_time
