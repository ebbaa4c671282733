-- Record (or refresh) an imported dump file, in the same transaction as its rows.
insert into market.imported_files
    (file_name, kind, symbol, checksum, row_count, candle_count, source)
values (%s, %s, %s, %s, %s, %s, %s)
on conflict (file_name) do update set
    kind = excluded.kind,
    symbol = excluded.symbol,
    checksum = excluded.checksum,
    row_count = excluded.row_count,
    candle_count = excluded.candle_count,
    source = excluded.source,
    imported_at = now()
