{{ config(pre_hook="{{ delete_dirty_ranges('1 hour') }}") }}

{{ rollup_candles(
    children=ref('candles_15m'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket='1 hour',
    minutes=60
) }}
