{{ config(pre_hook="{{ delete_dirty_ranges(var('buckets')['1h']) }}") }}

{{ rollup_candles(
    children=ref('candles_15m'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket=var('buckets')['1h'],
    minutes=60
) }}
