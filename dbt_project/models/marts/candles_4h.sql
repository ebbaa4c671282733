{{ config(pre_hook="{{ delete_dirty_ranges(var('buckets')['4h']) }}") }}

{{ rollup_candles(
    children=ref('candles_1h'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket=var('buckets')['4h'],
    minutes=240
) }}
