-- market.candles_1m_live is partitioned by day from here on (functions/partitions.sql), so the
-- live retention drops a day as soon as its minutes have their klines and LIVE_RETENTION_DAYS
-- have passed, instead of a month once the whole month has: the live table holds about a week
-- of minutes instead of up to five.
--
-- Every empty partition but the one holding now goes: the months made ahead by an earlier
-- migrate, or the days 0011 just made from the start of this month to four months ahead; the
-- maintenance that follows every migrate makes today's and the next few days'. A month
-- already holding rows stays as it is until the retention drops it whole, and the days follow
-- it; a row that comes for a day or month dropped here waits in the DEFAULT partition until
-- the next maintenance makes its day.
do $$
declare
    p record;
    empty boolean;
begin
    for p in
        select partition from market.month_partitions('market.candles_1m_live')
        where not (month_start <= now() and month_end > now())
    loop
        execute format('select not exists (select from %s)', p.partition) into empty;
        if empty then
            execute format('drop table %s', p.partition);
        end if;
    end loop;
end;
$$;
