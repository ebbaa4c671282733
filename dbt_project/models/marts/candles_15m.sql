{{ config(pre_hook="{{ delete_dirty_ranges(var('buckets')['15m']) }}") }}

{{ rollup_candles(
    children=ref('candles_5m'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket=var('buckets')['15m'],
    minutes=15
) }}
