-- Spread the platform's tables over a Citus cluster, by symbol.
--
-- Run once on the coordinator, as the administrator (DATABASE_URL), after the platform's
-- migrations (`python -m include.cli migrate`) and the first timeframe build
-- (`python -m include.cli build-timeframes`), which creates analytics.candles_<tf>:
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f deploy/citus/distribute.sql
--
-- Each statement commits on its own; with ON_ERROR_STOP the first failure stops the script.
-- Every part keeps connecting to the coordinator with the same URLs; Citus routes each
-- statement to the node holding the symbol. See deploy/citus/README.md for what changes.
-- tests/test_citus_distribution.py checks the keys Citus requires against a migrated database.

create extension if not exists citus;

-- Citus does not support triggers on distributed tables (only row-level ones, with
-- citus.enable_unsafe_triggers, which run on the workers' shards; these are statement-level,
-- with transition tables), and a NOTIFY sent from a worker never reaches the API, which
-- LISTENs on the coordinator. The live push of kline corrections therefore goes; live candles keep theirs
-- (market.candles_1m_live stays on the coordinator, below).
drop trigger if exists klines_1m_notify_insert on market.klines_1m;
drop trigger if exists klines_1m_notify_update on market.klines_1m;
drop trigger if exists klines_1m_notify_insert on market_usdm.klines_1m;
drop trigger if exists klines_1m_notify_update on market_usdm.klines_1m;
drop trigger if exists klines_1m_notify_insert on market_coinm.klines_1m;
drop trigger if exists klines_1m_notify_update on market_coinm.klines_1m;

-- Small tables every node joins with: one full copy on each node.
select create_reference_table('market.symbols');
select create_reference_table('market.imported_files');

-- By symbol, all co-located: a symbol's klines, gaps, watermark, reconciliations and candles
-- of every timeframe sit on one node, so the per-symbol joins, upserts and dbt's
-- delete+insert by (symbol, open_time) stay on that node. (analytics.candles_1m is a view over
-- market.klines_1m and market.candles_1m_live, so there is nothing of it to distribute.)
select create_distributed_table('market.klines_1m', 'symbol', shard_count => 32);
select create_distributed_table('market.ingest_gaps', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market.heal_watermarks', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market.reconciliations', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market.reconcile_mismatches', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('analytics.candles_5m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('analytics.candles_15m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('analytics.candles_1h', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('analytics.candles_4h', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('analytics.candles_1d', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('analytics.candles_1w', 'symbol', colocate_with => 'market.klines_1m');

-- Binance's futures markets (migration 0023): the same placement in each market's raw schema,
-- co-located with spot's by symbol (a perpetual BTCUSDT sits on the node of spot's BTCUSDT), and
-- their series only futures have, by contract too.
select create_reference_table('market_usdm.symbols');
select create_reference_table('market_usdm.imported_files');
select create_distributed_table('market_usdm.klines_1m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_usdm.ingest_gaps', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_usdm.heal_watermarks', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_usdm.reconciliations', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_usdm.reconcile_mismatches', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_usdm.mark_price_klines_1m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_usdm.index_price_klines_1m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_usdm.premium_index_klines_1m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_usdm.funding_rates', 'symbol', colocate_with => 'market.klines_1m');
select create_reference_table('market_coinm.symbols');
select create_reference_table('market_coinm.imported_files');
select create_distributed_table('market_coinm.klines_1m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_coinm.ingest_gaps', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_coinm.heal_watermarks', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_coinm.reconciliations', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_coinm.reconcile_mismatches', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_coinm.mark_price_klines_1m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_coinm.index_price_klines_1m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_coinm.premium_index_klines_1m', 'symbol', colocate_with => 'market.klines_1m');
select create_distributed_table('market_coinm.funding_rates', 'symbol', colocate_with => 'market.klines_1m');

-- Stay on the coordinator as plain tables:
--   market.candles_1m_live: its statement-level NOTIFY triggers are the API's live push, and
--     LISTEN/NOTIFY only works on the coordinator. One row per symbol and minute, written by
--     one streamer; Citus joins it with the distributed tables by pulling the needed rows.
--   market.candles_1s_live: the 1s candles of SECOND_CANDLE_SYMBOLS, the same NOTIFY triggers
--     (their push), a few symbols' last days; read alone, never joined.
--   market.timeframe_dirty_ranges: a short queue of ranges (identity key, pruned by every
--     build), written and read by the coordinator's clients only.
--   market.rest_weight_windows: the shared Binance REST weight budget, one small row per
--     budget and window, reserved under row locks by every client in one round trip; it has
--     no symbol and stays where the clients connect.
--   market.rebuilt_runs: the runs of minutes a build rebuilt, written by dbt_builder and read
--     by the API processes on the coordinator's notification; a day's worth, never joined.
--   market.build_horizons: one row per incremental dbt model, its build's horizon, read from
--     the coordinator's pg_stat_activity (where the writers connect); no symbol.
--   market.partition_rebuilds: which month of which table had its indexes rebuilt (keyed by
--     the coordinator's oid of the partition), a row a month and table; no symbol.
--   market_usdm.candles_1m_live: USDⓈ-M's live candles, as spot's.
--   market_usdm.timeframe_dirty_ranges: USDⓈ-M's queue of changed ranges, as spot's.
--   market_usdm.rebuilt_runs: USDⓈ-M's rebuilt runs, as spot's.
--   market_coinm.candles_1m_live: COIN-M's live candles, as spot's.
--   market_coinm.timeframe_dirty_ranges: COIN-M's queue of changed ranges, as spot's.
--   market_coinm.rebuilt_runs: COIN-M's rebuilt runs, as spot's.
--   public.schema_migrations: the migration runner's bookkeeping.
