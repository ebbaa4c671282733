-- Every part that records a gap in market.ingest_gaps (the streamer, heal-gaps, a dump import)
-- calls market.record_gap, so the rule by which a second record of the same (symbol, gap_start)
-- merges into the first is written once, here. (Marking a recorded row healed by its key, as
-- the streamer's repairs and heal-gaps' settled spans do, or annotating it, stays an update.)
-- Applied by every `migrate` after the migrations (create or replace).
--
-- healed says what the writer knows of the span:
--
-- - false: it saw the minutes missing just now (the streamer: a trade-id gap, a restart, or a
--   halt exchangeInfo shows, which heal-gaps is still to confirm). The row is open again and
--   becomes this writer's: its reason, detected_by and detected_at; healed_at and healed_by
--   cleared. Except over a halt: the streamer records a reconnect's or a restart's gap from a
--   symbol's first minute not closed, which in a halt is the halt's first minute; a dropped
--   connection does not end a halt, so the row stays one, widened (heal-gaps fetches the
--   whole span and cuts the halt at the first kline).
-- - true: the span is settled (heal-gaps fetched it from REST, or REST proved a halt). healed_at
--   is now, healed_by the writer (detected_by). The row keeps its detected_by, and the reason
--   the writer that recorded it gave, unless that writer is this one.
-- - null: nobody could tell (a dump's idle minutes that REST could not prove). The row keeps
--   its reason and whether it is healed; a new row is open, for heal-gaps.
--
-- Whatever healed is: the span widens to cover both records (gap_end is the later one), the
-- first and last missing trade ids widen too (a null one takes the other), and detail is the
-- newest. Except a settled halt (reason 'halt', healed true): it is what REST proved, whoever
-- saw the gap first, so it keeps its own span and its reason.
--
-- SECURITY INVOKER: the caller writes with its own table privileges; only the roles that write
-- gaps (DESIGN.md "Database roles") may execute it.
create or replace function market.record_gap_in(
    gaps regclass,
    symbol text,
    gap_start timestamptz,
    gap_end timestamptz,
    reason text,
    detected_by text,
    healed boolean,
    detail text default null,
    first_missing_trade_id bigint default null,
    last_missing_trade_id bigint default null
) returns void
language plpgsql security invoker
set search_path = pg_catalog, pg_temp
as $$
begin
    -- A market's gaps table only (spot's, or a futures market's: migration 0023).
    if gaps not in (
        to_regclass('market.ingest_gaps'),
        to_regclass('market_usdm.ingest_gaps'),
        to_regclass('market_coinm.ingest_gaps')
    ) then
        raise exception '% is not a market''s ingest_gaps', gaps;
    end if;
    -- The parameters by position ($1 symbol ... $9 last_missing_trade_id, as declared after
    -- gaps), the table's columns always qualified (g., excluded.).
    execute format($rule$
    insert into %s as g (
        symbol, gap_start, gap_end, first_missing_trade_id, last_missing_trade_id, reason,
        detected_by, healed_at, healed_by, detail
    )
    values (
        $1, $2, $3, $8, $9, $4,
        $5,
        case when $6 then now() end,
        case when $6 then $5 end,
        $7
    )
    on conflict (symbol, gap_start) do update set
        gap_end = case
            when $6 and excluded.reason = 'halt' then excluded.gap_end
            else greatest(g.gap_end, excluded.gap_end)
        end,
        first_missing_trade_id = least(g.first_missing_trade_id, excluded.first_missing_trade_id),
        last_missing_trade_id = greatest(g.last_missing_trade_id, excluded.last_missing_trade_id),
        reason = case
            when g.reason = 'halt' and not $6 then 'halt'
            when not $6 then excluded.reason
            when $6 and (excluded.reason = 'halt' or g.detected_by = excluded.detected_by)
                then excluded.reason
            else g.reason
        end,
        detected_by = case
            when not $6 then excluded.detected_by
            else g.detected_by
        end,
        detected_at = case when not $6 then now() else g.detected_at end,
        healed_at = case
            when $6 then now()
            when not $6 then null
            else g.healed_at
        end,
        healed_by = case
            when $6 then excluded.detected_by
            when not $6 then null
            else g.healed_by
        end,
        detail = excluded.detail
    $rule$, gaps)
    using symbol, gap_start, gap_end, reason, detected_by, healed, detail,
        first_missing_trade_id, last_missing_trade_id;
end;
$$;

-- Spot's: market.ingest_gaps (the streamer's, heal-gaps' and the dump import's calls).
create or replace function market.record_gap(
    symbol text,
    gap_start timestamptz,
    gap_end timestamptz,
    reason text,
    detected_by text,
    healed boolean,
    detail text default null,
    first_missing_trade_id bigint default null,
    last_missing_trade_id bigint default null
) returns void
language sql security invoker
set search_path = pg_catalog, pg_temp
as $$
    select market.record_gap_in(
        'market.ingest_gaps', symbol, gap_start, gap_end, reason, detected_by, healed, detail,
        first_missing_trade_id, last_missing_trade_id
    )
$$;

comment on function market.record_gap(
    text, timestamptz, timestamptz, text, text, boolean, text, bigint, bigint
) is 'Record a span of market.ingest_gaps, merged into any row of the same symbol and gap_start '
    'by the one rule of include/sql/functions/gaps.sql.';

-- Who may call them: the roles that write a market's ingest_gaps, no one else (PUBLIC's
-- default EXECUTE revoked here; grants.sql grants it to them).
revoke execute on function market.record_gap(
    text, timestamptz, timestamptz, text, text, boolean, text, bigint, bigint
) from public;
revoke execute on function market.record_gap_in(
    regclass, text, timestamptz, timestamptz, text, text, boolean, text, bigint, bigint
) from public;
