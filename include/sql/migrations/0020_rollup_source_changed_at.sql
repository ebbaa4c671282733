-- Each roll-up candle records the newest minute write it was built from (source_changed_at,
-- dbt_project/macros/candles.sql): the quality checks leave a candle to the next build exactly
-- while one of its minutes was written after that, instead of every candle with a minute
-- written within dbt's look-back of the last build. Added to the marts dbt already built
-- (last, where dbt's contract lists it); their rows built before this hold null, which the
-- checks read as the old look-back until the candle is rebuilt.
alter table if exists analytics.candles_5m add column if not exists source_changed_at timestamptz;
alter table if exists analytics.candles_15m add column if not exists source_changed_at timestamptz;
alter table if exists analytics.candles_1h add column if not exists source_changed_at timestamptz;
alter table if exists analytics.candles_4h add column if not exists source_changed_at timestamptz;
alter table if exists analytics.candles_1d add column if not exists source_changed_at timestamptz;
alter table if exists analytics.candles_1w add column if not exists source_changed_at timestamptz;
