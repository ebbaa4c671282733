{{ config(pre_hook="{{ delete_dirty_ranges('7 days') }}") }}

{{ rollup_candles(
    children=ref('candles_1d'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket='7 days',
    minutes=10080
) }}
