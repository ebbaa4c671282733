-- Holes in one symbol's 1m series (official klines and closed live candles together), from its
-- first candle on; with an upper bound the stretch after the last candle counts as a hole too.
with minutes as (
    select open_time from market.klines_1m where symbol = %(symbol)s
    union
    select open_time from market.candles_1m_live where symbol = %(symbol)s and is_closed
),

ordered as (
    select
        open_time,
        lead(open_time) over (order by open_time) as next_open_time
    from minutes
),

final as (
    select
        open_time + interval '1 minute' as gap_start,
        coalesce(next_open_time, %(until)s::timestamptz) as gap_end
    from ordered
)

select gap_start, gap_end
from final
where gap_end > gap_start
order by gap_start
