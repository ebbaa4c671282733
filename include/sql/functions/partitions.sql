-- The partitions of the candle tables (docs/architecture.md "Storage"): the functions that make,
-- fill and drop them. Every candle table is partitioned by month, except market.candles_1m_live,
-- by day: the live retention drops a day once its minutes have their klines, so the live table
-- holds about LIVE_RETENTION_DAYS of minutes instead of up to a month more. Applied by every
-- `migrate` after the migrations (create or replace), and taken as it is by migration 0011,
-- whose step needs them, so a change here is one edit, not a copied migration.
--
-- Who makes a table's months, and as whom (issue: a SECURITY DEFINER function must never touch a
-- table whose owner is trusted less than the function's owner, or a trigger, check or default
-- that owner planted would run with the definer's rights):
--
-- - market.make_month_partitions does the work as the caller, and only on a table the caller
--   owns: dbt_builder makes its marts' months as itself;
-- - market.make_trusted_month_partitions is SECURITY DEFINER for the writers (streamer_writer,
--   history_loader, dbt_builder) that insert into market's candle tables without owning them,
--   and touches only tables owned by its own owner (the administrator who migrates);
-- - market.ensure_month_partitions, the one every caller uses, picks between the two.

-- How long one partition of a candle table spans: 'day' for a market's live table (spot's, or
-- a futures market's: migration 0023), else 'month'.
create or replace function market.partition_unit(parent regclass) returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select case
        when n.nspname in ('market', 'market_usdm', 'market_coinm')
            and c.relname = 'candles_1m_live' then 'day'
        else 'month'
    end
    from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where c.oid = parent
$$;

-- The partitions of a table, with the range each covers (bounds read in UTC; a month, or a day
-- of the live table: the names say month for both).
create or replace function market.month_partitions(parent regclass)
returns table (partition regclass, month_start timestamptz, month_end timestamptz)
language sql stable
set timezone = 'UTC'
as $$
    select
        c.oid::regclass,
        bounds[1]::timestamptz,
        bounds[2]::timestamptz
    from pg_catalog.pg_inherits as i
    join pg_catalog.pg_class as c on c.oid = i.inhrelid
    cross join lateral regexp_match(
        pg_catalog.pg_get_expr(c.relpartbound, c.oid),
        'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)'
    ) as bounds
    where i.inhparent = parent and bounds is not null
    order by 2
$$;

-- The DEFAULT partition of a table, or null.
create or replace function market.default_partition(parent regclass) returns regclass
language sql stable
as $$
    select c.oid::regclass
    from pg_catalog.pg_inherits as i
    join pg_catalog.pg_class as c on c.oid = i.inhrelid
    where i.inhparent = parent and pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
$$;

-- The owner of a partitioned candle table of a market's schemas (spot's market and analytics, a
-- futures market's: migration 0023), its price klines included; raises for any other table.
create or replace function market.candle_table_owner(parent regclass) returns name
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
    nsp text;
    tbl text;
    owner_name name;
begin
    select n.nspname, c.relname, pg_get_userbyid(c.relowner)
    into nsp, tbl, owner_name
    from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where c.oid = parent and c.relkind = 'p';
    if not found
        or nsp not in (
            'market', 'analytics', 'market_usdm', 'analytics_usdm', 'market_coinm', 'analytics_coinm'
        )
        or tbl !~ '^(candles|klines|mark_price_klines|index_price_klines|premium_index_klines)_'
    then
        raise exception '% is not a partitioned candle table', parent;
    end if;
    return owner_name;
end;
$$;

-- Create the missing partitions of [from_time, to_time) (the one holding from_time when to_time
-- is not after it) of a table the caller owns, a month or a day each (market.partition_unit);
-- returns how many it created. A span some partition already covers in part (a month of the
-- live table made before it went by day) is left to it. Rows of a new span held by the DEFAULT
-- partition move into it, in one statement (a row committed meanwhile is either moved or still
-- in the DEFAULT partition, never lost).
create or replace function market.make_month_partitions(
    parent regclass, from_time timestamptz, to_time timestamptz
) returns integer
language plpgsql
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $$
declare
    owner_name name := market.candle_table_owner(parent);
    nsp text;
    tbl text;
    deflt regclass;
    unit text := market.partition_unit(parent);
    step interval;
    month timestamptz;
    part text;
    cols text;
    locked boolean := false;
    created integer := 0;
begin
    if owner_name <> current_user then
        raise exception '% belongs to %: only its owner makes its months', parent, owner_name;
    end if;
    select n.nspname, c.relname into nsp, tbl
    from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where c.oid = parent;
    if from_time is null or not isfinite(from_time) or (to_time is not null and not isfinite(to_time)) then
        raise exception 'partition range must be finite: [%, %)', from_time, to_time;
    end if;
    if to_time is null or to_time <= from_time then
        to_time := from_time + interval '1 microsecond';
    end if;
    if to_time - from_time > interval '100 years' then
        raise exception 'partition range too long: [%, %)', from_time, to_time;
    end if;
    step := ('1 ' || unit)::interval;
    for month in
        select g from generate_series(
            date_trunc(unit, from_time), to_time - interval '1 microsecond', step
        ) as g
    loop
        continue when exists (
            select from market.month_partitions(parent) as p
            where p.month_start < month + step and p.month_end > month
        );
        if not locked then
            -- One creator per table at a time; re-check what it may have created meanwhile.
            perform pg_advisory_xact_lock(hashtext('market.ensure_month_partitions'), parent::oid::int);
            locked := true;
            continue when exists (
                select from market.month_partitions(parent) as p
                where p.month_start < month + step and p.month_end > month
            );
        end if;
        part := format(
            '%I.%I', nsp,
            tbl || '_p' || to_char(month, case unit when 'day' then 'YYYY_MM_DD' else 'YYYY_MM' end)
        );
        -- A table of its own first, then attached: attaching takes a lighter lock on the parent
        -- than CREATE TABLE ... PARTITION OF, so readers and writers of other months go on.
        execute format(
            'create table %s (like %s including defaults including constraints '
            'including storage including comments including statistics)', part, parent
        );
        deflt := market.default_partition(parent);
        if deflt is not null then
            select string_agg(quote_ident(attname), ', ' order by attnum) into cols
            from pg_attribute where attrelid = parent and attnum > 0 and not attisdropped;
            -- Writers of the DEFAULT partition wait (attaching takes this lock anyway), and the
            -- rows deleted are the rows inserted: nothing committed meanwhile is left behind.
            execute format('lock table %s in access exclusive mode', deflt);
            execute format(
                'with moved as (delete from %s where open_time >= $1 and open_time < $2 '
                'returning %s) insert into %s (%s) select %s from moved',
                deflt, cols, part, cols, cols
            ) using month, month + step;
        end if;
        execute format(
            'alter table %s attach partition %s for values from (%L) to (%L)',
            parent, part, month, month + step
        );
        -- history_loader rebuilds the klines' finished months' indexes without owning them
        -- (include/platform/index_rebuilds.py): MAINTAIN, PostgreSQL 17+, gives it no more than
        -- its UPDATE on the table already does (a lock of it whole), and no trigger or owner's
        -- right. The live table's days are dropped, never rebuilt.
        if unit = 'month' and nsp in ('market', 'market_usdm', 'market_coinm')
            and current_setting('server_version_num')::integer >= 170000
            and exists (select from pg_roles where rolname = 'history_loader')
        then
            execute format('grant maintain on %s to history_loader', part);
        end if;
        created := created + 1;
    end loop;
    return created;
end;
$$;

-- market.make_month_partitions for the writers of market's candle tables, as the administrator
-- who owns them; any table its own owner does not own is refused. A writer makes at most 31 days
-- of the live table (the streamer makes 4 ahead) or 240 months of the others (20 years: Binance
-- began in 2017) per call: one call of a writer could otherwise create tens of thousands of
-- tables, each then planned and opened by every unbounded statement on the table.
create or replace function market.make_trusted_month_partitions(
    parent regclass, from_time timestamptz, to_time timestamptz
) returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $$
declare
    owner_name name := market.candle_table_owner(parent);
    unit text := market.partition_unit(parent);
    most integer := case market.partition_unit(parent) when 'day' then 31 else 240 end;
begin
    if owner_name <> current_user then
        raise exception '% belongs to %: only its owner makes its months', parent, owner_name;
    end if;
    if isfinite(from_time) and isfinite(to_time)
        and to_time > date_trunc(unit, from_time) + most * ('1 ' || unit)::interval then
        raise exception 'partition range too long: [%, %) spans more than % %s of %',
            from_time, to_time, most, unit, parent
            using errcode = 'program_limit_exceeded';
    end if;
    return market.make_month_partitions(parent, from_time, to_time);
end;
$$;

-- Create the missing months of [from_time, to_time) of a candle table: as the caller when it
-- owns the table, else as the administrator when the administrator owns it.
create or replace function market.ensure_month_partitions(
    parent regclass, from_time timestamptz, to_time timestamptz
) returns integer
language plpgsql security invoker
set search_path = pg_catalog, pg_temp
as $$
begin
    if market.candle_table_owner(parent) = current_user then
        return market.make_month_partitions(parent, from_time, to_time);
    end if;
    return market.make_trusted_month_partitions(parent, from_time, to_time);
end;
$$;

-- Move whatever the DEFAULT partition holds into partitions of its own; returns how many it made.
create or replace function market.split_default_partition(parent regclass) returns integer
language plpgsql security invoker
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $$
declare
    deflt regclass := market.default_partition(parent);
    month timestamptz;
    created integer := 0;
begin
    if deflt is null then
        return 0;
    end if;
    for month in execute format(
        'select distinct date_trunc(%L, open_time) from %s', market.partition_unit(parent), deflt
    )
    loop
        created := created + market.ensure_month_partitions(parent, month, null);
    end loop;
    return created;
end;
$$;

-- Give target a monthly partition for every month market.klines_1m or market.candles_1m_live
-- has a partition in (the live table's are days): dbt's marts then write their months straight
-- into place.
create or replace function market.mirror_month_partitions(target regclass) returns integer
language sql
set timezone = 'UTC'
as $$
    select coalesce(sum(market.ensure_month_partitions(target, m.month_start, null)), 0)::integer
    from (
        select month_start from market.month_partitions('market.klines_1m')
        union
        select date_trunc('month', month_start)
        from market.month_partitions('market.candles_1m_live')
    ) as m
    where not exists (
        select from market.month_partitions(target) as t where t.month_start = m.month_start
    )
$$;

-- Live retention (LIVE_RETENTION_DAYS): drop the partitions (days) of market.candles_1m_live
-- that end at or before cutoff, and a day before now at the latest, whole, and only those whose
-- every minute has its official kline in market.klines_1m: such a day is a copy (the kline
-- beats it in the 1m mart, and a --full-refresh rebuilds it from the klines alone). A day
-- holding a minute Binance's klines do not (not backfilled yet, or never will be) is kept,
-- whatever its age. The marts keep their rows; the DEFAULT partition is never dropped. Returns
-- the partitions dropped. Security definer over the administrator's own table only; executable
-- by the administrator (migrate, `include.cli partitions`) and by history_loader, which runs it
-- once its daily klines have landed (grants.sql): it can only ever drop copies.
create or replace function market.drop_live_partitions(cutoff timestamptz) returns setof text
language plpgsql security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $$
declare
    p record;
    uncovered boolean;
    covered regclass[] := '{}';
    part regclass;
begin
    if market.candle_table_owner('market.candles_1m_live') <> current_user then
        raise exception 'market.candles_1m_live is not owned by %', current_user;
    end if;
    -- The streamer is still writing the newest day's minutes.
    cutoff := least(cutoff, now() - interval '1 day');
    -- One retention at a time (two would each hold a day's share lock and wait on the other's).
    perform pg_advisory_xact_lock(hashtext('market.drop_live_partitions'));
    -- Every day proven first, the drops last: a drop locks the whole live table until the
    -- transaction ends, and a day's proof at ALL reads ~3 M rows, which the streamer's writes
    -- must not wait for.
    for p in
        select partition, month_start, month_end
        from market.month_partitions('market.candles_1m_live')
        where month_end <= cutoff
        order by month_start
    loop
        -- No row may land in the day between its proof and its drop (share mode blocks
        -- writes to this old day only, never to the current one).
        execute format('lock table %s in share mode', p.partition);
        -- The klines' bounds are stated so only their month is read: both sides in key order,
        -- one pass (stopping at the first minute without a kline).
        execute format(
            'select exists (select from %s as live where not exists ('
            'select from market.klines_1m as kline where kline.symbol = live.symbol '
            'and kline.open_time = live.open_time '
            'and kline.open_time >= $1 and kline.open_time < $2))',
            p.partition
        ) into uncovered using p.month_start, p.month_end;
        if not uncovered then
            covered := covered || p.partition;
        end if;
    end loop;
    foreach part in array covered loop
        return next part::text;
        execute format('drop table %s', part);
    end loop;
end;
$$;

-- Convert a populated plain candle table into a partitioned one of the same name, in place.
create or replace function market.partition_by_month(tbl regclass) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $$
declare
    nsp text;
    name text;
    owner_name text;
    acl aclitem[];
    note text;
    qualified text;
    old text;
    cols text;
    month timestamptz;
    statements text[] := '{}';
    stmt text;
    views record;
    view_defs jsonb := '[]';
    v jsonb;
    r record;
begin
    select n.nspname, c.relname, pg_get_userbyid(c.relowner), c.relacl,
        obj_description(c.oid, 'pg_class')
    into nsp, name, owner_name, acl, note
    from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where c.oid = tbl and c.relkind = 'r';
    if not found then
        return;  -- already partitioned (or not a table): nothing to do
    end if;
    qualified := format('%I.%I', nsp, name);
    old := name || '_unpartitioned';

    -- What hangs on the table, captured while it still has its name: key and unique
    -- constraints, other indexes, triggers (checks and NOT NULL come along with LIKE).
    select statements || coalesce(array_agg(
        format('alter table %s add constraint %I %s', qualified, conname, pg_get_constraintdef(oid))
        order by conname), '{}')
    into statements
    from pg_constraint where conrelid = tbl and contype in ('p', 'u', 'x');
    select statements || coalesce(array_agg(pg_get_indexdef(indexrelid) order by indexrelid), '{}')
    into statements
    from pg_index as i
    where i.indrelid = tbl
        and not exists (select from pg_constraint as k where k.conindid = i.indexrelid and k.conrelid = tbl);
    select statements || coalesce(array_agg(pg_get_triggerdef(oid) order by tgname), '{}')
    into statements
    from pg_trigger where tgrelid = tbl and not tgisinternal;

    -- Views over the table (dbt's staging views, users' own), deepest last, to rebuild.
    for views in
        with recursive deps (oid, depth) as (
            select distinct rw.ev_class, 1
            from pg_depend as d join pg_rewrite as rw on rw.oid = d.objid
            where d.classid = 'pg_rewrite'::regclass and d.refobjid = tbl and rw.ev_class <> tbl
            union all
            select distinct rw.ev_class, deps.depth + 1
            from deps
            join pg_depend as d on d.refobjid = deps.oid and d.classid = 'pg_rewrite'::regclass
            join pg_rewrite as rw on rw.oid = d.objid
            where rw.ev_class <> deps.oid
        )
        select c.oid, c.relkind, format('%I.%I', n.nspname, c.relname) as qname,
            max(deps.depth) as depth
        from deps join pg_class as c on c.oid = deps.oid
        join pg_namespace as n on n.oid = c.relnamespace
        group by c.oid, c.relkind, n.nspname, c.relname
        order by max(deps.depth), c.oid
    loop
        if views.relkind <> 'v' then
            raise exception '% depends on %: only views can be rebuilt', views.qname, qualified;
        end if;
        view_defs := view_defs || jsonb_build_object(
            'name', views.qname,
            'def', pg_get_viewdef(views.oid),
            'owner', (select pg_get_userbyid(relowner) from pg_class where oid = views.oid),
            'note', obj_description(views.oid, 'pg_class'),
            'grants', (
                select coalesce(jsonb_agg(format('grant %s on %s to %s%s', a.privilege_type,
                    views.qname,
                    case when a.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end,
                    case when a.is_grantable then ' with grant option' else '' end)), '[]')
                from pg_class as c, aclexplode(c.relacl) as a
                where c.oid = views.oid and a.grantee <> c.relowner
            )
        );
    end loop;
    for v in
        select e.value from jsonb_array_elements(view_defs) with ordinality as e (value, n)
        order by e.n desc
    loop
        execute format('drop view if exists %s', v->>'name');
    end loop;

    -- The old table steps aside, without the indexes whose names the new one takes.
    execute format('alter table %s rename to %I', qualified, old);
    for r in select conname from pg_constraint where conrelid = tbl and contype in ('p', 'u', 'x') loop
        execute format('alter table %I.%I drop constraint %I', nsp, old, r.conname);
    end loop;
    for r in select indexrelid::regclass as idx from pg_index where indrelid = tbl loop
        execute format('drop index %s', r.idx);
    end loop;
    for r in select tgname from pg_trigger where tgrelid = tbl and not tgisinternal loop
        execute format('drop trigger %I on %I.%I', r.tgname, nsp, old);
    end loop;

    execute format(
        'create table %s (like %I.%I including defaults including constraints including storage '
        'including comments including statistics) partition by range (open_time)',
        qualified, nsp, old
    );
    execute format('alter table %s owner to %I', qualified, owner_name);
    execute format('create table %I.%I partition of %s default', nsp, name || '_default', qualified);
    execute format('alter table %I.%I owner to %I', nsp, name || '_default', owner_name);
    for month in execute format(
        'select distinct date_trunc(%L, open_time) from %I.%I',
        market.partition_unit(qualified::regclass), nsp, old
    ) loop
        perform market.ensure_month_partitions(qualified::regclass, month, null);
    end loop;
    select string_agg(quote_ident(attname), ', ' order by attnum) into cols
    from pg_attribute where attrelid = tbl and attnum > 0 and not attisdropped;
    execute format('insert into %s (%s) select %s from %I.%I', qualified, cols, cols, nsp, old);

    foreach stmt in array statements loop
        execute stmt;
    end loop;
    if note is not null then
        execute format('comment on table %s is %L', qualified, note);
    end if;
    for r in
        select a.privilege_type, a.grantee, a.is_grantable
        from aclexplode(acl) as a
        where a.grantee <> (select relowner from pg_class where oid = tbl)
    loop
        execute format('grant %s on %s to %s%s', r.privilege_type, qualified,
            case when r.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(r.grantee)) end,
            case when r.is_grantable then ' with grant option' else '' end);
    end loop;
    execute format('drop table %s', tbl);

    for v in
        select e.value from jsonb_array_elements(view_defs) with ordinality as e (value, n)
        order by e.n
    loop
        execute format('create view %s as %s', v->>'name', v->>'def');
        execute format('alter view %s owner to %I', v->>'name', v->>'owner');
        if v->>'note' is not null then
            execute format('comment on view %s is %L', v->>'name', v->>'note');
        end if;
        for r in select value #>> '{}' as stmt from jsonb_array_elements(v->'grants') loop
            execute r.stmt;
        end loop;
    end loop;
    execute format('analyze %s', qualified);
end;
$$;

-- Who may call them: making months (and moving the DEFAULT's rows into them) is for the
-- writers (grants.sql grants it to DESIGN.md's roles); dropping live months is for the
-- administrator alone (migrate and `include.cli partitions` run as it).
revoke execute on function
    market.make_month_partitions(regclass, timestamptz, timestamptz),
    market.make_trusted_month_partitions(regclass, timestamptz, timestamptz),
    market.ensure_month_partitions(regclass, timestamptz, timestamptz),
    market.split_default_partition(regclass),
    market.drop_live_partitions(timestamptz)
from public;
