-- Storage that grows: the candle tables are partitioned by month (RANGE on open_time, UTC), so
-- an old month is a table of its own (dropped whole by the live retention, vacuumed and indexed
-- on its own) and a bounded open_time range reads only its months.
--
-- An insert never fails for want of a partition: every partitioned table has a DEFAULT
-- partition that takes a month nobody created yet. market.ensure_month_partitions creates the
-- months of a range ahead of a write (the loaders call it for the range they load, migrate and
-- `include.cli partitions` for the coming months), moving any rows the DEFAULT partition holds
-- for them, so the DEFAULT partition stays empty in steady state and never blocks a new month.
--
-- This migration converts market.klines_1m and market.candles_1m_live in place, and the
-- analytics.candles_<tf> marts when dbt already built them: the rows, keys, checks, indexes,
-- triggers (0006's NOTIFY), comments, owner, grants and the views over them are kept.

-- The functions that make, fill and drop the months, and who may call them: functions/
-- partitions.sql, taken here as it is now (and re-applied by every migrate).
\i functions/partitions.sql

select market.partition_by_month('market.klines_1m');
select market.partition_by_month('market.candles_1m_live');
select market.partition_by_month(to_regclass(format('analytics.candles_%s', tf)))
from unnest(array['1m', '5m', '15m', '1h', '4h', '1d', '1w']) as tf
where to_regclass(format('analytics.candles_%s', tf)) is not null;

-- The current month and the next three, so live writes land in a month of their own.
select market.ensure_month_partitions(
    t, date_trunc('month', now()), date_trunc('month', now()) + interval '4 months'
)
from unnest(array['market.klines_1m', 'market.candles_1m_live']::regclass[]) as t;
