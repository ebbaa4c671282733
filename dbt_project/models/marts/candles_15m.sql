{{ config(pre_hook="{{ delete_dirty_ranges('15 minutes') }}") }}

{{ rollup_candles(
    children=ref('candles_5m'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket='15 minutes',
    minutes=15
) }}
