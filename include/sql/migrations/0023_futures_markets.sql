-- Binance's futures markets beside spot (DESIGN.md "Futures markets"): USDⓈ-M in market_usdm
-- and analytics_usdm, COIN-M in market_coinm and analytics_coinm, so a spot BTCUSDT and a
-- perpetual BTCUSDT never mix and users' SQL over market and analytics reads what it always did.
--
-- Each raw schema holds spot's tables with spot's columns, keys, checks, indexes and comments
-- (LIKE market's, as they are at this step), partitioned as spot's are (the live table by day,
-- the klines by month), and the series only futures have: mark-price, index-price and
-- premium-index 1-minute klines (Binance's columns for those kinds: OHLC and the number of price
-- samples behind it) and the funding history. Who may write what is include/sql/grants.sql's,
-- applied after every migrate; the timeframes schemas are dbt_builder's (its builds fill them).

-- Partitioning as it is now (a futures live table is by day too), before the tables below use it.
\i functions/partitions.sql

do $$
declare
    raw text;
    shared text;
begin
    foreach raw in array array['market_usdm', 'market_coinm'] loop
        execute format('create schema %I', raw);
        foreach shared in array array[
            'candles_1m_live', 'klines_1m', 'ingest_gaps', 'symbols', 'imported_files',
            'heal_watermarks', 'timeframe_dirty_ranges', 'reconciliations', 'reconcile_mismatches'
        ] loop
            execute format(
                'create table %I.%I (like market.%I including all)', raw, shared, shared
            );
        end loop;

        foreach shared in array array[
            'mark_price_klines_1m', 'index_price_klines_1m', 'premium_index_klines_1m'
        ] loop
            execute format(
                $ddl$
                create table %1$I.%2$I (
                    symbol text not null,
                    open_time timestamptz not null,
                    open numeric not null,
                    high numeric not null,
                    low numeric not null,
                    close numeric not null,
                    -- Binance's column 8 of these kinds: the price samples behind the minute.
                    sample_count bigint not null,
                    -- rest or dump_klines (the dump of that kind).
                    source text not null,
                    loaded_at timestamptz not null default now(),
                    primary key (symbol, open_time),
                    constraint %2$s_minute check (date_trunc('minute', open_time) = open_time),
                    constraint %2$s_source check (source in ('rest', 'dump_klines'))
                )
                $ddl$,
                raw,
                shared
            );
            execute format(
                'comment on table %I.%I is %L',
                raw,
                shared,
                format(
                    'Binance''s 1-minute %s klines, one row per contract and minute.',
                    replace(replace(shared, '_klines_1m', ''), '_', ' ')
                )
            );
            execute format('create index %2$s_loaded_at on %1$I.%2$I (loaded_at)', raw, shared);
        end loop;

        execute format(
            $ddl$
            create table %I.funding_rates (
                symbol text not null,
                funding_time timestamptz not null,
                funding_rate numeric not null,
                -- The mark price at the funding (REST has it; the monthly dumps do not).
                mark_price numeric,
                -- The hours between fundings then (the dumps have it; REST does not).
                funding_interval_hours integer,
                -- rest or dump_funding.
                source text not null,
                loaded_at timestamptz not null default now(),
                primary key (symbol, funding_time),
                constraint funding_rates_source check (source in ('rest', 'dump_funding'))
            )
            $ddl$,
            raw
        );
        execute format(
            'comment on table %I.funding_rates is %L',
            raw,
            'Funding rates of each perpetual, one row per contract and funding time.'
        );

        perform market.partition_by_month(format('%I.%I', raw, t)::regclass)
        from unnest(array[
            'candles_1m_live', 'klines_1m', 'mark_price_klines_1m', 'index_price_klines_1m',
            'premium_index_klines_1m'
        ]) as t;
    end loop;
    execute 'create schema analytics_usdm';
    execute 'create schema analytics_coinm';
    -- dbt's staging and intermediate views of each market (dbt_project's generate_schema_name).
    execute 'create schema analytics_staging_usdm';
    execute 'create schema analytics_staging_coinm';
end;
$$;
