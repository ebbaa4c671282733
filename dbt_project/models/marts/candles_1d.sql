{{ config(pre_hook="{{ delete_dirty_ranges('1 day') }}") }}

{{ rollup_candles(
    children=ref('candles_4h'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket='1 day',
    minutes=1440
) }}
