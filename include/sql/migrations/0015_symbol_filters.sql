-- exchangeInfo's filters of each symbol, as Binance gave them (PRICE_FILTER's tickSize,
-- LOT_SIZE's stepSize, ...): the API's exchangeInfo repeats them and the chart's price scale
-- follows the tick size. Null until exchangeInfo is read again.
alter table market.symbols add column filters jsonb;
comment on column market.symbols.filters is
    'exchangeInfo''s filters array for the symbol, verbatim (null until read).';
