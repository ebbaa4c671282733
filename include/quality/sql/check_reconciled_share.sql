-- Rows: per active symbol, the share of officially compared minutes in the window that equal
-- Binance's klines after reconciliation (reported, not a failure; null = never reconciled).
with

{params},

active as (

    {active_symbols}

),

reconciled as (

    select
        run.symbol,
        count(*) as windows,
        sum(run.minutes_official) as minutes_compared,
        sum(run.minutes_official - run.minutes_unrepaired) as minutes_equal,
        max(run.reconciled_at) as last_reconciled_at
    from {{batch}} as run
    cross join params
    where
        run.window_start < params.window_end
        and run.window_end > params.window_start
    group by run.symbol

)

select
    active.symbol,
    coalesce(reconciled.windows, 0) as windows,
    coalesce(reconciled.minutes_compared, 0) as minutes_compared,
    coalesce(reconciled.minutes_equal, 0) as minutes_equal,
    round(reconciled.minutes_equal::numeric / nullif(reconciled.minutes_compared, 0), 6) as share,
    reconciled.last_reconciled_at
from active
left join reconciled on active.symbol = reconciled.symbol
order by active.symbol
