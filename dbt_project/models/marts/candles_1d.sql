{{ config(pre_hook="{{ delete_dirty_ranges(var('buckets')['1d']) }}") }}

{{ rollup_candles(
    children=ref('candles_4h'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket=var('buckets')['1d'],
    minutes=1440
) }}
