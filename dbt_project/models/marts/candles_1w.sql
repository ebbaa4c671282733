{{ config(pre_hook="{{ delete_dirty_ranges(var('buckets')['1w']) }}") }}

{{ rollup_candles(
    children=ref('candles_1d'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket=var('buckets')['1w'],
    minutes=10080
) }}
