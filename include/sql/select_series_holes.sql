-- Holes in one symbol's 1m series (official klines and closed live candles together) from a
-- first minute on: the newest minute held at or before its heal watermark (select_series_anchor.sql),
-- or the start of time without one; with an upper bound the stretch after the last candle counts
-- as a hole too. The first minute is a parameter, known when planning, so only the monthly
-- partitions from it on are planned and read: a run costs what came since the watermark.
with minutes as (
    select k.open_time from market.klines_1m as k
    where
        k.symbol = %(symbol)s
        and k.open_time >= %(first)s
    union
    select l.open_time from market.candles_1m_live as l
    where
        l.symbol = %(symbol)s
        and l.is_closed
        and l.open_time >= %(first)s
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
