-- Open gaps of one symbol that start inside a span heal-gaps fetched, [start, at), and run
-- past its end, split there: heal marks healed only what it fetched (market.record_gap would
-- widen its healed record to the row's end). The rest, [at, gap_end), stays open and the
-- writer's (reason, detected_by, detected_at, trade ids): continuity exempts it, and a later
-- run, its horizon past it, fetches it. An open row already starting at `at` is widened; a
-- settled one there (a proven halt) keeps its span.
with cut as (
    select g.symbol, g.gap_start, g.gap_end
    from market.ingest_gaps as g
    where
        g.symbol = %(symbol)s
        and g.healed_at is null
        and g.gap_start >= %(start)s
        and g.gap_start < %(at)s
        and g.gap_end > %(at)s
    for update
),

shortened as (
    update market.ingest_gaps as g
    set gap_end = %(at)s
    from cut
    where g.symbol = cut.symbol and g.gap_start = cut.gap_start
    returning g.symbol
),

-- Several open rows may overlap past `at`: the remainder is one row, the widest's.
rest as (
    select distinct on (g.symbol)
        g.symbol,
        max(cut.gap_end) over () as gap_end,
        g.first_missing_trade_id,
        g.last_missing_trade_id,
        g.reason,
        g.detected_by,
        g.detected_at,
        g.detail
    from market.ingest_gaps as g
    inner join cut on g.symbol = cut.symbol and g.gap_start = cut.gap_start
    order by g.symbol, cut.gap_end desc
)

insert into market.ingest_gaps as g (
    symbol, gap_start, gap_end, first_missing_trade_id, last_missing_trade_id, reason,
    detected_by, detected_at, detail
)
select
    rest.symbol, %(at)s, rest.gap_end, rest.first_missing_trade_id,
    rest.last_missing_trade_id, rest.reason, rest.detected_by, rest.detected_at, rest.detail
from rest
on conflict on constraint ingest_gaps_pkey do update
    set gap_end = greatest(g.gap_end, excluded.gap_end)
    where g.healed_at is null
