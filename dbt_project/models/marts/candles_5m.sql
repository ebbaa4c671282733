{{ config(pre_hook="{{ delete_dirty_ranges('5 minutes') }}") }}

{{ rollup_candles(
    children=ref('candles_1m'),
    dirty_ranges=ref('stg_market__timeframe_dirty_ranges'),
    bucket='5 minutes',
    minutes=5,
    children_written_late=true
) }}
