{{ config(pre_hook="{{ delete_dirty_ranges('4 hours') }}") }}

{{ rollup_candles(
    children=ref('candles_1h'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket='4 hours',
    minutes=240
) }}
