-- Holes in one symbol's 1m series (official klines and closed live candles together), after its
-- heal watermark (from its first candle without one); with an upper bound the stretch after the
-- last candle counts as a hole too. The scan starts at the newest minute held at or before the
-- watermark (two index lookups), so it reads only what came since.
with anchor as (
    select greatest(
        (
            select max(k.open_time) from market.klines_1m as k
            where k.symbol = %(symbol)s and k.open_time <= %(since)s
        ),
        (
            select max(l.open_time) from market.candles_1m_live as l
            where l.symbol = %(symbol)s and l.is_closed and l.open_time <= %(since)s
        )
    ) as open_time
),

minutes as (
    select k.open_time from market.klines_1m as k
    where
        k.symbol = %(symbol)s
        and k.open_time >= coalesce((select a.open_time from anchor as a), '-infinity')
    union
    select l.open_time from market.candles_1m_live as l
    where
        l.symbol = %(symbol)s
        and l.is_closed
        and l.open_time >= coalesce((select a.open_time from anchor as a), '-infinity')
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
