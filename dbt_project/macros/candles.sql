{#- Bucketing and roll-up of candles: one place for the rules every timeframe shares. -#}

{#- DESIGN.md's candle columns, one per line, each qualified by `relation` when given. -#}
{% macro candle_columns(relation=none) -%}
    {%- for column in [
        'symbol', 'open_time', 'open', 'high', 'low', 'close', 'volume', 'quote_volume',
        'trade_count', 'taker_buy_volume', 'taker_buy_quote_volume'
    ] %}
        {{ relation ~ '.' if relation }}{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{#- Binance aligns 5m..1d to UTC epoch multiples and weeks to Monday 00:00 UTC; 1970-01-05 was a
    Monday and is itself a multiple of every shorter interval, so one origin serves them all. -#}
{% macro bucket_start(column, bucket) -%}
    date_bin(interval '{{ bucket }}', {{ column }}, timestamptz '{{ var("bucket_origin") }}')
{%- endmacro %}


{#- The earliest change time this incremental run must look at. For sources other processes
    write (lookback=true): the previous build's horizon, the oldest writer transaction still
    open when it read (market.incremental_since, include/sql/functions/build_horizons.sql);
    where none was kept, the previous build less a look-back that covers writers whose
    transaction committed after that build read.
    Models upstream in the same dbt run commit before this one starts, so for them
    lookback=false: the previous build. -#}
{% macro incremental_since(lookback=true) -%}
    {%- set query -%}
        {%- if lookback %}
        select market.incremental_since(
            cast({{ build_horizon_key() }} as regclass),
            cast({{ dbt.string_literal(var('lookback')) }} as interval)
        )
        {%- else %}
        select coalesce(max(built_at), '-infinity'::timestamptz) from {{ this }}
        {%- endif %}
    {%- endset -%}
    {{ timestamp_literal(query) }}
{%- endmacro %}


{#- A query's single timestamp as a literal. The planner estimates "built_at > literal" from the
    index (a handful of new rows) but "built_at > (subquery)" as a third of the table, and then
    picks whole-table joins whose cost grows with history. -#}
{% macro timestamp_literal(query) -%}
    {%- if execute -%}
        {#- As text, so agate cannot round it while guessing a type. -#}
        {%- set as_text = "select 'ts ' || coalesce((" ~ query ~ ")::text, '-infinity')" -%}
        {%- set value = run_query(as_text).columns[0].values()[0] -%}
        timestamptz '{{ value[3:] }}'
    {%- else -%}
        timestamptz '-infinity'
    {%- endif -%}
{%- endmacro %}


{#- Pre-hook: a declared dirty range is recomputed from scratch, so rows whose minutes vanished
    from the sources disappear too (delete+insert alone only replaces rows it re-inserts). -#}
{% macro delete_dirty_ranges(bucket) -%}
    {% if is_incremental() %}
        delete from {{ this }} as target
        using {{ ref('stg_market__timeframe_dirty_ranges') }} as dirty
        where dirty.marked_at >= {{ incremental_since() }}
            and target.symbol = dirty.symbol
            and target.open_time < dirty.range_end
            and target.open_time > dirty.range_start - interval '{{ bucket }}'
    {% endif %}
{%- endmacro %}


{#- One higher-timeframe candle per symbol and bucket from the next-shorter timeframe's candles.
    Every field is associative (first open, last close, max, min, sums), so rolling 1m into 5m,
    5m into 15m and so on equals aggregating the minutes directly, at a fraction of the work. -#}
{#- children_written_late: the children are a view over tables other writers fill (candles_1m),
    whose rows can commit after this model's previous build read them, so the look-back
    applies; a mart built earlier in the same dbt run has committed before this one starts. -#}
{% macro rollup_candles(children, dirty_ranges, bucket, minutes, children_written_late=false) -%}
    {% if is_incremental() %}
    with

    affected_buckets as (

        select distinct
            children.symbol,
            {{ bucket_start('children.open_time', bucket) }} as open_time
        from {{ children }} as children
        where children.built_at > {{ incremental_since(lookback=children_written_late) }}

        union

        select
            dirty.symbol,
            bucket.open_time
        from {{ dirty_ranges }} as dirty
        cross join lateral generate_series(
            {{ bucket_start('dirty.range_start', bucket) }},
            dirty.range_end - interval '1 microsecond',
            interval '{{ bucket }}'
        ) as bucket (open_time)
        where dirty.marked_at >= {{ incremental_since() }}

    ),

    members as (

        select children.*
        from affected_buckets
        -- Lateral with a limit clause (never flattened): one index range scan per affected
        -- bucket; a join lets the planner, misled by empty-table guesses, sort the whole parent.
        cross join lateral (
            select * from {{ children }} as parent
            where
                parent.symbol = affected_buckets.symbol
                and parent.open_time >= affected_buckets.open_time
                and parent.open_time < affected_buckets.open_time + interval '{{ bucket }}'
            limit all offset 0
        ) as children

    ),
    {% else %}
    with

    members as (

        select * from {{ children }}

    ),
    {% endif %}

    rolled_up as (

        select
            symbol,
            {{ bucket_start('open_time', bucket) }} as open_time,
            (array_agg(open order by open_time))[1] as open,
            max(high) as high,
            min(low) as low,
            (array_agg(close order by open_time desc))[1] as close,
            sum(volume) as volume,
            sum(quote_volume) as quote_volume,
            sum(trade_count)::bigint as trade_count,
            sum(taker_buy_volume) as taker_buy_volume,
            sum(taker_buy_quote_volume) as taker_buy_quote_volume,
            sum(minute_count)::integer as minute_count,
            sum(kline_minute_count)::integer as kline_minute_count,
            bool_and(is_final) as members_final,
            max(source_changed_at) as source_changed_at
        from members
        group by 1, 2

    ),

    final as (

        select
            {{ candle_columns() }},
            minute_count,
            kline_minute_count,
            minute_count = {{ minutes }} as is_complete,
            minute_count = {{ minutes }} and members_final as is_final,
            now() as built_at,
            -- The newest minute write this candle was built from: a minute of its bucket
            -- written later is one the build did not see (the quality checks leave the candle
            -- to the next build, docs/quality.md).
            source_changed_at
        from rolled_up

    )

    select * from final
{%- endmacro %}
