-- exchangeInfo's symbols, statuses and filters; a row that did not change is not touched.
insert into market.symbols (symbol, status, base_asset, quote_asset, filters)
values (%s, %s, %s, %s, %s)
on conflict (symbol) do update set
    status = excluded.status,
    base_asset = excluded.base_asset,
    quote_asset = excluded.quote_asset,
    filters = excluded.filters,
    updated_at = now()
where (
    market.symbols.status,
    market.symbols.base_asset,
    market.symbols.quote_asset,
    market.symbols.filters
)
is distinct from (excluded.status, excluded.base_asset, excluded.quote_asset, excluded.filters)
