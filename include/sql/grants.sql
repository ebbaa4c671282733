-- Table privileges of the roles of migration 0010 (DESIGN.md "Database roles"). Applied after
-- every migration run, so a later migration that replaces a table (partitioning, say) cannot
-- leave it without them: a table a role writes is listed here.
grant usage on schema market to streamer_writer, history_loader, dbt_builder, analytics_reader;
grant select on all tables in schema market
    to streamer_writer, history_loader, dbt_builder, analytics_reader;

-- The streamer: its live candles and the gaps it detects and heals.
grant insert, update on market.candles_1m_live, market.ingest_gaps to streamer_writer;

-- History loads (backfill, import, heal, reconcile): klines (reconcile deletes the official
-- minutes it replaces), gaps, and their bookkeeping; the changed ranges they declare for dbt.
grant insert, update, delete on market.klines_1m to history_loader;
grant insert, update on
    market.ingest_gaps,
    market.symbols,
    market.imported_files,
    market.heal_watermarks,
    market.reconciliations,
    market.reconcile_mismatches
    to history_loader;
grant insert on market.timeframe_dirty_ranges to history_loader;

-- dbt: owns analytics (migration 0010); forgets the dirty ranges its builds consumed.
grant delete on market.timeframe_dirty_ranges to dbt_builder;

-- Readers of analytics: the read API and quality checks, and reconcile (history_loader).
grant usage on schema analytics to analytics_reader, history_loader;
grant select on all tables in schema analytics to analytics_reader, history_loader;
