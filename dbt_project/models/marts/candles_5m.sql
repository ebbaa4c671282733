{{ config(pre_hook="{{ delete_dirty_ranges(var('buckets')['5m']) }}") }}

{{ rollup_candles(
    children=ref('candles_1m'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket=var('buckets')['5m'],
    minutes=5,
    children_written_late=true
) }}
